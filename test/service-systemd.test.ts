import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildServiceSpec, type ServiceSpec } from '../src/service/spec.js';
import { parseSystemdUnit, renderSystemdUnit, SYSTEMD_UNIT_NAME } from '../src/service/systemd-unit.js';
import { createSystemdManager, explainSystemctl, systemdUserDir } from '../src/service/systemd.js';
import type { ToolResult } from '../src/service/exec.js';
import { needsPackage } from './helpers/system-package.js';
import { CLI, tempDir } from './service-helpers.js';

const onLinux = process.platform === 'linux';

function specFor(root: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  const { spec } = buildServiceSpec({
    runtime: 'node',
    port: 18790,
    configPath: join(root, 'my config', 'config.json'),
    effectiveHost: '0.0.0.0',
    drainTimeoutMs: 5000,
    home: join(root, 'home'),
    logDir: join(root, 'logs'),
    env: { XOPC_HOME: join(root, 'state 100% $HOME "quoted"') },
    cliPath: CLI,
  });
  return { ...spec, ...extra };
}

/** Runs the real `systemd-analyze verify --user` on a unit file; returns everything it printed. */
function verify(unitPath: string, runtimeDir: string): { code: number | null; output: string } {
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  const result = spawnSync('systemd-analyze', ['verify', '--user', unitPath], {
    encoding: 'utf8',
    timeout: 20_000,
    // The user manager needs a runtime dir; a temp one keeps the check away from any real session.
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, DBUS_SESSION_BUS_ADDRESS: '' },
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

test('the generated unit passes systemd-analyze verify with no warnings', { skip: onLinux ? needsPackage('systemd-analyze', 'systemd') : 'systemd is Linux only' }, (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // A program path with spaces: verify checks that ExecStart's first word is executable.
  const binDir = join(dir, 'node bin');
  mkdirSync(binDir);
  symlinkSync(process.execPath, join(binDir, 'node 20'));
  const spec = specFor(dir, { program: join(binDir, 'node 20') });
  const unitPath = join(dir, SYSTEMD_UNIT_NAME);
  writeFileSync(unitPath, renderSystemdUnit(spec));
  const result = verify(unitPath, join(dir, 'runtime'));
  assert.equal(result.output, '', `systemd-analyze printed:\n${result.output}\n--- unit ---\n${readFileSync(unitPath, 'utf8')}`);
  assert.equal(result.code, 0);
});

test('systemd-analyze verify does report a broken unit (the check above can fail)', { skip: onLinux ? needsPackage('systemd-analyze', 'systemd') : 'systemd is Linux only' }, (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const unitPath = join(dir, SYSTEMD_UNIT_NAME);
  writeFileSync(unitPath, renderSystemdUnit(specFor(dir)).replace('KillMode=mixed', 'KillMode=bogus'));
  assert.match(verify(unitPath, join(dir, 'runtime')).output, /KillMode|kill mode/i);
  writeFileSync(unitPath, renderSystemdUnit(specFor(dir, { program: join(dir, 'no such node') })));
  assert.match(verify(unitPath, join(dir, 'runtime')).output, /not executable/);
});

test('the unit has the restart policy, stop timeout, kill mode and marker the gateway relies on', () => {
  const unit = renderSystemdUnit(specFor('/srv/x'));
  for (const line of ['Restart=always', 'RestartSec=1', 'StartLimitIntervalSec=60', 'StartLimitBurst=10', 'KillMode=mixed', 'RestartPreventExitStatus=2 4', 'WantedBy=default.target', 'Environment="XOPC_SERVICE_MARKER=systemd"', 'Environment="XOPC_ALLOW_SIGUSR1_RESTART=1"']) {
    assert.ok(unit.split('\n').includes(line), `missing ${line}\n${unit}`);
  }
  // Longer than the 5 s drain, with room to release the lock.
  assert.equal(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1], '15');
  // StartLimit* belong to [Unit]: in [Service] systemd ignores them with a warning.
  const unitSection = unit.slice(unit.indexOf('[Unit]'), unit.indexOf('[Service]'));
  assert.match(unitSection, /StartLimitBurst=/);
});

test('the stop timeout follows a longer configured drain', () => {
  const { spec } = buildServiceSpec({ runtime: 'node', port: 1, effectiveHost: 'h', drainTimeoutMs: 30_000, home: '/h', logDir: '/l', env: {}, cliPath: CLI });
  assert.match(renderSystemdUnit(spec), /^TimeoutStopSec=40$/m);
});

test('ExecStart, Environment and WorkingDirectory read back exactly, whatever the quoting', () => {
  const spec = specFor('/srv/a b%c');
  const parsed = parseSystemdUnit(renderSystemdUnit(spec));
  assert.ok(parsed);
  assert.equal(parsed.program, spec.program);
  assert.deepEqual(parsed.args, spec.args);
  assert.equal(parsed.workingDir, spec.workingDir);
  assert.equal(parsed.env.XOPC_HOME, '/srv/a b%c/state 100% $HOME "quoted"');
  assert.ok(parsed.args.includes('--config'));
  assert.deepEqual(parsed.env, { XOPC_SERVICE_MARKER: 'systemd', ...spec.env });
});

test('node runtime runs this node on the built cli.js; no token ever lands in the unit', () => {
  const { spec, warnings } = buildServiceSpec({
    runtime: 'node', port: 8080, host: '127.0.0.1', effectiveHost: '127.0.0.1', drainTimeoutMs: 5000,
    home: '/home/u', logDir: '/l', env: { XOPC_GATEWAY_TOKEN: 'secret-token-from-env-1234' }, cliPath: CLI,
  });
  assert.equal(spec.program, process.execPath);
  assert.deepEqual(spec.args, [CLI, 'gateway', '--port', '8080', '--host', '127.0.0.1']);
  assert.doesNotMatch(renderSystemdUnit(spec), /secret-token|TOKEN/);
  assert.match(warnings.join('\n'), /XOPC_GATEWAY_TOKEN/);
});

test('a node or cli.js under a version manager or npx cache gets a warning', () => {
  const base = { runtime: 'node' as const, port: 1, effectiveHost: 'h', drainTimeoutMs: 5000, home: '/h', logDir: '/l', env: {} };
  assert.match(buildServiceSpec({ ...base, execPath: '/home/u/.nvm/versions/node/v20.1.0/bin/node', cliPath: CLI }).warnings.join(), /version manager/);
  assert.match(buildServiceSpec({ ...base, execPath: '/usr/bin/node', cliPath: '/home/u/.npm/_npx/1a2b/node_modules/xopc/dist/src/cli.js' }).warnings.join(), /npx cache/);
  assert.deepEqual(buildServiceSpec({ ...base, execPath: '/usr/bin/node', cliPath: '/usr/lib/node_modules/xopc/dist/src/cli.js' }).warnings, []);
});

test('values with newlines or control characters are refused', () => {
  const base = { runtime: 'node' as const, port: 1, effectiveHost: 'h', drainTimeoutMs: 5000, logDir: '/l', cliPath: CLI };
  assert.throws(() => buildServiceSpec({ ...base, home: '/h', env: { XOPC_HOME: '/tmp/x\nExecStartPre=/bin/rm -rf /' } }), /newlines/);
  assert.throws(() => buildServiceSpec({ ...base, home: '/h\r', env: {} }), /newlines/);
  assert.throws(() => buildServiceSpec({ ...base, home: '/h', host: 'a\nb', env: {} }), /newlines/);
});

test('binary runtime finds xopc on PATH, and says clearly when there is none', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const base = { runtime: 'binary' as const, port: 1, effectiveHost: 'h', drainTimeoutMs: 5000, home: '/h', logDir: '/l' };
  assert.throws(() => buildServiceSpec({ ...base, env: { PATH: dir } }), /no `xopc` executable found on PATH/);
  writeFileSync(join(dir, 'xopc'), '\x7fELF fake', { mode: 0o755 });
  const { spec, warnings } = buildServiceSpec({ ...base, env: { PATH: `/nonexistent:${dir}` } });
  assert.equal(spec.program, join(dir, 'xopc'));
  assert.deepEqual(spec.args.slice(0, 1), ['gateway']);
  assert.deepEqual(warnings, []);
  writeFileSync(join(dir, 'xopc'), '#!/usr/bin/env node\n', { mode: 0o755 });
  assert.match(buildServiceSpec({ ...base, env: { PATH: dir } }).warnings.join(), /is a script/);
});

test('the unit goes under XDG_CONFIG_HOME when set, else ~/.config', () => {
  assert.equal(systemdUserDir('/home/u', {}), '/home/u/.config/systemd/user');
  assert.equal(systemdUserDir('/home/u', { XDG_CONFIG_HOME: '/cfg' }), '/cfg/systemd/user');
  // Relative values are invalid per the XDG spec and ignored.
  assert.equal(systemdUserDir('/home/u', { XDG_CONFIG_HOME: 'rel' }), '/home/u/.config/systemd/user');
});

test('systemctl failures become one line that says what to do', () => {
  const fail = (stderr: string, extra: Partial<ToolResult> = {}): ToolResult => ({ code: 1, stdout: '', stderr, ...extra });
  const bus = explainSystemctl(['--user', 'start', 'x'], fail('Failed to connect to bus: No medium found\n'), 'ann');
  assert.match(bus!, /user manager is not reachable.*Failed to connect to bus.*loginctl enable-linger ann/);
  assert.doesNotMatch(bus!, /\n/);
  assert.match(explainSystemctl(['--user', 'start'], fail('', { code: null, failure: 'not-found' }), 'ann')!, /systemctl was not found/);
  assert.match(explainSystemctl(['--user', 'start'], fail('System has not been booted with systemd as init system (PID 1). Can\'t operate.'), 'ann')!, /systemd is not running/);
  assert.match(explainSystemctl(['--user', 'start'], fail('', { code: null, failure: 'timeout' }), 'ann')!, /did not answer in time/);
  assert.match(explainSystemctl(['--user', 'start', 'x'], fail('Unit x not found.'), 'ann')!, /`systemctl --user start x` failed: Unit x not found\./);
  // What it did comes first on stderr; the reason is the line after.
  const disabled = explainSystemctl(['--user', 'disable', '--now', 'x'], fail("Removed '/home/ann/.config/systemd/user/default.target.wants/x'.\nFailed to stop x: Access denied\n"), 'ann')!;
  assert.match(disabled, /`systemctl --user disable --now x` failed: Failed to stop x: Access denied$/);
  assert.doesNotMatch(disabled, /Removed/);
  assert.equal(explainSystemctl([], { code: 0, stdout: '', stderr: '' }, 'ann'), null);
});

function fakeRunner(answer: (command: string, args: string[]) => Partial<ToolResult> = () => ({})) {
  const calls: string[] = [];
  const run = async (command: string, args: string[]): Promise<ToolResult> => {
    calls.push([command, ...args].join(' '));
    return { code: 0, stdout: '', stderr: '', ...answer(command, args) };
  };
  return { calls, run };
}

test('install reloads, enables, starts; a second identical install only starts; linger off gives a note', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const { calls, run } = fakeRunner((command, args) => (command === 'loginctl' ? { stdout: 'Linger=no\n' } : args.includes('show') ? {} : {}));
  const manager = createSystemdManager({ run, env: {}, home: dir, username: 'ann', uid: 1000 });
  const spec = specFor(dir);
  const first = await manager.install(spec);
  assert.equal(first.changed, true);
  assert.equal(first.started, true);
  assert.equal(first.problem, null);
  assert.match(first.notes.join(), /loginctl enable-linger ann/);
  assert.deepEqual(calls.filter((c) => c.startsWith('systemctl')), [
    'systemctl --user daemon-reload',
    `systemctl --user enable ${SYSTEMD_UNIT_NAME}`,
    `systemctl --user reset-failed ${SYSTEMD_UNIT_NAME}`,
    `systemctl --user restart ${SYSTEMD_UNIT_NAME}`,
  ]);
  calls.length = 0;
  const second = await manager.install(spec);
  assert.equal(second.changed, false);
  assert.ok(calls.includes(`systemctl --user start ${SYSTEMD_UNIT_NAME}`));
  assert.ok(!calls.some((c) => c.includes('restart')));
});

test('without a user bus, install still writes the unit, tries enable, and reports one line', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const { calls, run } = fakeRunner((command, args) =>
    command === 'systemctl' && args[1] !== 'enable' ? { code: 1, stderr: 'Failed to connect to bus: No medium found\n' } : {},
  );
  const manager = createSystemdManager({ run, env: {}, home: dir, username: 'ann', uid: 1000 });
  const result = await manager.install(specFor(dir));
  assert.ok(existsSync(manager.definitionPath));
  assert.equal(result.enabled, true);
  assert.equal(result.started, false);
  assert.match(result.problem!, /not reachable/);
  assert.ok(!calls.some((c) => / (re)?start /.test(c)), 'no start without a manager');
  const status = await manager.status();
  assert.equal(status.installed, true);
  assert.equal(status.state, 'unknown');
  assert.match(status.problem!, /not reachable/);
  assert.equal(status.definition?.program, specFor(dir).program);
});

test('uninstall disables, removes the unit and a leftover wants link, and is a no-op the second time', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // `disable` cannot reach the manager here, so the wants link is left for us to remove.
  const { calls, run } = fakeRunner((_command, args) => (args.includes('disable') ? { code: 1, stderr: 'Failed to connect to bus: x' } : {}));
  const manager = createSystemdManager({ run, env: {}, home: dir, username: 'ann', uid: 1000 });
  await manager.install(specFor(dir));
  const wants = join(systemdUserDir(dir, {}), 'default.target.wants', SYSTEMD_UNIT_NAME);
  mkdirSync(join(wants, '..'), { recursive: true });
  symlinkSync(manager.definitionPath, wants);
  const removed = await manager.uninstall();
  assert.ok(calls.includes(`systemctl --user disable --now ${SYSTEMD_UNIT_NAME}`));
  assert.deepEqual(removed.removed.sort(), [manager.definitionPath, wants].sort());
  assert.ok(!existsSync(manager.definitionPath));
  assert.throws(() => lstatSync(wants));
  const again = await manager.uninstall();
  assert.equal(again.ok, true);
  assert.deepEqual(again.removed, []);
});

test('status maps systemctl show to the seed words and the main pid', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  let props = 'LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=777\n';
  const { run } = fakeRunner((_c, args) => (args.includes('show') ? { stdout: props } : {}));
  const manager = createSystemdManager({ run, env: {}, home: dir, username: 'ann', uid: 1000 });
  assert.equal((await manager.status()).state, 'not-installed');
  await manager.install(specFor(dir));
  assert.deepEqual(await manager.status().then((s) => [s.state, s.pid, s.detail]), ['running', 777, 'active (running)']);
  props = 'ActiveState=activating\nSubState=auto-restart\nMainPID=0\n';
  assert.deepEqual(await manager.status().then((s) => [s.state, s.pid]), ['restarting', null]);
  props = 'ActiveState=failed\nSubState=failed\nMainPID=0\n';
  assert.equal((await manager.status()).state, 'failed');
});
