import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { needsPackage } from './helpers/system-package.js';
import { CLI, freePort, isolatedEnv, runCli, tempDir, writeFakeSystemctl } from './service-helpers.js';

const onLinux = process.platform === 'linux';
const UNIT = join('.config', 'systemd', 'user', 'xopc-gateway.service');
const TOKEN = 'install-token-abcdefghijklmnop';

/** Every file (not directory) under `root`, relative to it. */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isDirectory()) out.push(relative(root, join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)));
  }
  return out.sort();
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `stack trace in output:\n${text}`);
}

function setup(t: { after: (fn: () => void) => void }) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const home = join(dir, 'home');
  const state = join(dir, 'state dir');
  mkdirSync(home);
  return { dir, home, state };
}

test('with no user bus (real systemctl): install writes and enables the unit, explains in one line; twice is idempotent; uninstall cleans up', { skip: onLinux ? needsPackage('systemctl', 'systemd') : 'systemd is Linux only' }, async (t) => {
  const { dir, home, state } = setup(t);
  const runtimeDir = join(dir, 'runtime');
  mkdirSync(runtimeDir, { mode: 0o700 });
  // An empty runtime dir and no bus address: systemctl --user cannot reach any manager.
  const env = isolatedEnv(home, { XOPC_HOME: state, XDG_RUNTIME_DIR: runtimeDir });

  const first = await runCli(['gateway', 'install', '--timeout', '0'], env);
  assert.equal(first.code, 1, first.stdout + first.stderr);
  assert.match(first.stdout, /Not started: The systemd user manager is not reachable \(Failed to connect to bus[^\n]*loginctl enable-linger/);
  assertNoStack(first.stdout + first.stderr);
  const unitPath = join(home, UNIT);
  const unit = readFileSync(unitPath, 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${process.execPath} ${CLI} gateway --port 18790$`, 'm'));
  assert.match(unit, /^Environment="XOPC_HOME=.*state dir"$/m);
  // The token was generated into the config (0600), not into the unit.
  const config = JSON.parse(readFileSync(join(state, 'config.json'), 'utf8'));
  assert.equal(typeof config.gateway.auth.token, 'string');
  assert.equal(statSync(join(state, 'config.json')).mode & 0o777, 0o600);
  assert.ok(!unit.includes(config.gateway.auth.token));

  const second = await runCli(['gateway', 'install', '--timeout', '0'], env);
  assert.equal(second.code, 1);
  assert.match(second.stdout, /Unchanged/);
  assert.equal(readFileSync(unitPath, 'utf8'), unit);
  assert.equal(JSON.parse(readFileSync(join(state, 'config.json'), 'utf8')).gateway.auth.token, config.gateway.auth.token);
  assert.deepEqual(filesUnder(home), [UNIT, join('.config', 'systemd', 'user', 'default.target.wants', 'xopc-gateway.service')].sort());

  const status = await runCli(['gateway', 'service-status'], env);
  assert.equal(status.code, 1, 'status unknown: the manager could not be asked');
  const problemLines = status.stdout.split('\n').filter((line) => line.includes('not reachable'));
  assert.equal(problemLines.length, 1);
  for (const line of ['📋 Service Status', 'Installed: Yes', 'Status: unknown', `Program: ${process.execPath}`, `Args: ${CLI} gateway --port 18790`, `Working Dir: ${home}`, '🌐 Access', 'URL: http://localhost:18790', '📝 Commands']) {
    assert.ok(status.stdout.includes(line), `missing "${line}" in:\n${status.stdout}`);
  }
  assertNoStack(status.stdout + status.stderr);

  const removed = await runCli(['gateway', 'uninstall'], env);
  assert.match(removed.stdout, /Removed .*xopc-gateway\.service/);
  assertNoStack(removed.stdout + removed.stderr);
  assert.deepEqual(filesUnder(join(home, '.config')), []);
  const again = await runCli(['gateway', 'uninstall'], env);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /Not installed/);
});

test('with a working manager: install, reinstall, service-status (text and JSON), uninstall', { skip: !onLinux && 'systemd is Linux only' }, async (t) => {
  const { dir, home, state } = setup(t);
  const fake = writeFakeSystemctl(dir);
  const env = isolatedEnv(home, { XOPC_HOME: state, XOPC_SYSTEMCTL: fake.path, XDG_CONFIG_HOME: join(dir, 'xdg') });
  // Free now, and nothing is started on it: the fake manager only pretends.
  const port = String(await freePort());

  const first = await runCli(['gateway', 'install', '--port', port, '--host', '127.0.0.1', '--token', TOKEN, '--timeout', '0'], env);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const unitPath = join(dir, 'xdg', 'systemd', 'user', 'xopc-gateway.service');
  const unit = readFileSync(unitPath, 'utf8');
  assert.ok(!unit.includes(TOKEN), 'the token stays out of the unit');
  assert.match(unit, new RegExp(`gateway --port ${port} --host 127\\.0\\.0\\.1$`, 'm'));
  const configPath = join(state, 'config.json');
  assert.equal(JSON.parse(readFileSync(configPath, 'utf8')).gateway.auth.token, TOKEN);
  assert.equal(statSync(configPath).mode & 0o777, 0o600);

  const second = await runCli(['gateway', 'install', '--port', port, '--host', '127.0.0.1', '--token', TOKEN, '--timeout', '0'], env);
  assert.equal(second.code, 0);
  assert.match(second.stdout, /Unchanged/);
  assert.equal(readFileSync(unitPath, 'utf8'), unit);
  assert.deepEqual(readFileSync(fake.log, 'utf8').trim().split('\n'), [
    '--user daemon-reload', '--user enable xopc-gateway.service', '--user reset-failed xopc-gateway.service', '--user restart xopc-gateway.service',
    '--user daemon-reload', '--user enable xopc-gateway.service', '--user reset-failed xopc-gateway.service', '--user start xopc-gateway.service',
  ]);

  // A different token is not put over the one the gateway and its clients use, unless asked.
  const other = 'another-token-of-enough-length';
  const refused = await runCli(['gateway', 'install', '--port', port, '--host', '127.0.0.1', '--token', other, '--timeout', '0'], env);
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /already has a different gateway\.auth\.token, which the gateway and its clients use\. Leave out --token to keep it, or add --replace-token/);
  assert.ok(!refused.stderr.includes(TOKEN) && !refused.stderr.includes(other), 'no token in the message');
  assert.equal(JSON.parse(readFileSync(configPath, 'utf8')).gateway.auth.token, TOKEN);
  const replaced = await runCli(['gateway', 'install', '--port', port, '--host', '127.0.0.1', '--token', other, '--replace-token', '--timeout', '0', '--json'], env);
  assert.equal(replaced.code, 0, replaced.stdout + replaced.stderr);
  const installed = JSON.parse(replaced.stdout);
  assert.deepEqual(
    { changed: installed.changed, enabled: installed.enabled, tokenStored: installed.tokenStored, tokenGenerated: installed.tokenGenerated, started: installed.started, serving: installed.serving, url: installed.url, definitionPath: installed.definitionPath },
    { changed: false, enabled: true, tokenStored: true, tokenGenerated: false, started: true, serving: null, url: `http://127.0.0.1:${port}`, definitionPath: unitPath },
  );
  assert.match(installed.notes.join('\n'), /Replaced the token/);
  assert.equal(JSON.parse(readFileSync(configPath, 'utf8')).gateway.auth.token, other);
  const startedJson = await runCli(['gateway', 'service-start', '--timeout', '0', '--json'], env);
  assert.equal(startedJson.code, 0, startedJson.stdout + startedJson.stderr);
  assert.deepEqual(JSON.parse(startedJson.stdout), { definitionPath: unitPath, started: true, serving: null, url: `http://127.0.0.1:${port}`, notes: [] });

  const status = await runCli(['gateway', 'service-status'], env);
  assert.equal(status.code, 0, status.stdout);
  for (const line of ['Installed: Yes', 'Status: running (active (running))', 'PID: 4242', `URL: http://127.0.0.1:${port}`]) {
    assert.ok(status.stdout.includes(line), `missing "${line}" in:\n${status.stdout}`);
  }
  const json = await runCli(['gateway', 'service-status', '--json'], env);
  const report = JSON.parse(json.stdout);
  assert.equal(report.installed, true);
  assert.equal(report.manager, 'systemd');
  assert.equal(report.status, 'running');
  assert.equal(report.pid, 4242);
  assert.equal(report.program, process.execPath);
  assert.deepEqual(report.args, [CLI, 'gateway', '--port', port, '--host', '127.0.0.1']);
  assert.equal(report.workingDir, home);
  assert.equal(report.url, `http://127.0.0.1:${port}`);
  assert.equal(report.environment.XOPC_SERVICE_MARKER, 'systemd');
  assert.equal(report.problem, null);
  assert.ok(Array.isArray(report.commands) && report.commands.length >= 4);

  // Started, but nothing answers on the port: a bounded wait, then one line saying where to look.
  const silent = await runCli(['gateway', 'service-start', '--timeout', '300'], env);
  assert.equal(silent.code, 1);
  assert.match(silent.stderr, /\/health did not answer within 300 ms \(service: active \(running\)\)\. Logs: journalctl --user -u xopc-gateway\.service/);

  const removed = await runCli(['gateway', 'uninstall', '--json'], env);
  assert.equal(removed.code, 0, removed.stdout);
  assert.deepEqual(JSON.parse(removed.stdout), { uninstalled: true, removed: [unitPath], problem: null, notes: [`🗑️  Removed ${unitPath}`] });
  assert.ok(readFileSync(fake.log, 'utf8').includes('--user disable --now xopc-gateway.service'));
  assert.deepEqual(filesUnder(join(dir, 'xdg')), []);
  const status2 = await runCli(['gateway', 'service-status', '--json'], env);
  assert.equal(status2.code, 3);
  assert.equal(JSON.parse(status2.stdout).installed, false);
});

test('bad input is one clear line with a usage exit code, and nothing is written', { skip: !onLinux && 'systemd is Linux only' }, async (t) => {
  const { dir, home, state } = setup(t);
  const fake = writeFakeSystemctl(dir);
  const env = isolatedEnv(home, { XOPC_HOME: state, XOPC_SYSTEMCTL: fake.path });
  const cases: [string[], number, RegExp][] = [
    [['--token', 'abc\ndef-ghijklmnopqrstu'], 2, /--token must not contain newlines/],
    [['--token', '12345678901234567890'], 2, /--token must not be only digits/],
    [['--token', 'short'], 2, /--token must be at least 16 characters/],
    [['--runtime', 'deno'], 2, /--runtime must be "node" or "binary"/],
    [['--port', '70000'], 2, /--port must be an integer from 1 to 65535/],
    [['--host', 'a b'], 2, /--host must be an address without spaces/],
  ];
  for (const [args, code, message] of cases) {
    const result = await runCli(['gateway', 'install', '--timeout', '0', ...args], env);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  assert.deepEqual(filesUnder(home), []);
  assert.ok(!existsSync(join(state, 'config.json')));

  const binary = await runCli(['gateway', 'install', '--runtime', 'binary', '--timeout', '0'], { ...env, PATH: join(dir, 'empty') });
  assert.equal(binary.code, 1);
  assert.match(binary.stderr, /no `xopc` executable found on PATH/);
  assert.ok(!existsSync(join(state, 'config.json')), 'a failed install writes nothing');

  const start = await runCli(['gateway', 'service-start'], env);
  assert.equal(start.code, 1);
  assert.match(start.stderr, /not installed.*xopc gateway install/);
});
