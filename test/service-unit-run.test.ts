import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseSystemdUnit } from '../src/service/systemd-unit.js';
import { configPath, lockPath } from '../src/paths.js';
import { freePort, isolatedEnv, runCli, tempDir, waitForHealth, writeFakeSystemctl } from './service-helpers.js';

test('the installed unit, run the way systemd runs it, starts a gateway that answers /health', { skip: process.platform !== 'linux' && 'systemd is Linux only', timeout: 60_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const home = join(dir, 'home');
  const state = join(dir, 'state 100% dir');
  mkdirSync(home);
  const port = await freePort();
  const fake = writeFakeSystemctl(dir);
  const installed = await runCli(['gateway', 'install', '--port', String(port), '--host', '127.0.0.1', '--timeout', '0'], isolatedEnv(home, { XOPC_HOME: state, XOPC_SYSTEMCTL: fake.path }));
  assert.equal(installed.code, 0, installed.stdout + installed.stderr);

  const unit = parseSystemdUnit(readFileSync(join(home, '.config', 'systemd', 'user', 'xopc-gateway.service'), 'utf8'));
  assert.ok(unit && unit.workingDir);
  // What the user manager gives a service: a small fixed environment plus the unit's Environment=.
  const env = {
    HOME: home,
    USER: process.env.USER ?? 'user',
    LANG: 'C.UTF-8',
    PATH: '/usr/local/bin:/usr/bin:/bin',
    INVOCATION_ID: randomBytes(16).toString('hex'),
    ...unit.env,
  };
  const logPath = join(dir, 'service.log');
  const log = openSync(logPath, 'a');
  const child = spawn(unit.program, unit.args, { cwd: unit.workingDir, env, stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const health = await waitForHealth(port, 20_000);
  assert.ok(health, `no /health on ${port}; log:\n${readFileSync(logPath, 'utf8')}`);
  assert.equal(health.status, 'healthy');

  // It used the unit's XOPC_HOME, and the token from the config file (the unit has none).
  const lock = JSON.parse(readFileSync(lockPath(configPath(undefined, { XOPC_HOME: state }), { XOPC_HOME: state }), 'utf8'));
  assert.equal(lock.pid, child.pid);
  const token = JSON.parse(readFileSync(join(state, 'config.json'), 'utf8')).gateway.auth.token as string;
  const denied = await fetch(`http://127.0.0.1:${port}/api/sessions`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } });
  assert.equal(denied.status, 401);
  const allowed = await fetch(`http://127.0.0.1:${port}/api/sessions`, { headers: { authorization: `Bearer ${token}` } });
  assert.notEqual(allowed.status, 401);

  // service-start and service-status see the same gateway through the unit's port and XOPC_HOME.
  const cliEnv = isolatedEnv(home, { XOPC_SYSTEMCTL: fake.path, FAKE_MAIN_PID: String(child.pid) });
  const started = await runCli(['gateway', 'service-start', '--timeout', '5000'], cliEnv);
  assert.equal(started.code, 0, started.stdout + started.stderr);
  assert.match(started.stdout, new RegExp(`Started: http://127\\.0\\.0\\.1:${port}`));
  const report = JSON.parse((await runCli(['gateway', 'service-status', '--json'], cliEnv)).stdout);
  assert.deepEqual([report.status, report.pid, report.health.ok, report.notes], ['running', child.pid, true, []]);
  assert.equal(report.configPath, join(state, 'config.json'));

  // When the manager's process is not the one holding the lock, "started" would be a lie.
  const otherEnv = isolatedEnv(home, { XOPC_SYSTEMCTL: fake.path, FAKE_MAIN_PID: '4242' });
  const notOurs = await runCli(['gateway', 'service-start', '--timeout', '5000'], otherEnv);
  assert.equal(notOurs.code, 1);
  assert.match(notOurs.stderr, new RegExp(`from a gateway the service did not start \\(pid ${child.pid}\\)`));
  const report2 = JSON.parse((await runCli(['gateway', 'service-status', '--json'], otherEnv)).stdout);
  assert.match(report2.notes.join(), new RegExp(`not run by the service .*pid ${child.pid}`));

  // systemd's stop: SIGTERM to the main process (KillMode=mixed), then it waits TimeoutStopSec.
  child.kill('SIGTERM');
  const [code, signal] = (await Promise.race([exited, new Promise((r) => setTimeout(() => r(['timeout', null]), 15_000).unref())])) as [number | string, string | null];
  assert.deepEqual([code, signal], [0, null], readFileSync(logPath, 'utf8'));
});
