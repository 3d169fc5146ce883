import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configPath, lockPath } from '../src/paths.js';
import { isRunning, waitForExit } from '../src/proc.js';
import { needsPackage } from './helpers/system-package.js';
import { CLI, freePort, tempDir, waitFor, waitForHealth } from './service-helpers.js';

const RESTARTS = 3;

function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

/**
 * A real supervisor from Debian (runit's runsv) plays the service manager: SIGUSR1 makes the
 * gateway drain and exit 0, runsv starts it again, and it serves again, several times in a
 * row, without a crash loop on the port or the lock.
 */
test('SIGUSR1 under runsv: exit 0, restarted by the supervisor, serving again, no EADDRINUSE loop', { skip: process.platform !== 'linux' ? 'runit test runs on Linux' : needsPackage('runsv', 'runit') || needsPackage('sv', 'runit'), timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir();
  const state = join(dir, 'state');
  const svc = join(dir, 'service');
  mkdirSync(svc);
  const port = await freePort();
  const files = { starts: join(dir, 'starts'), exits: join(dir, 'exits'), log: join(dir, 'gateway.log') };

  writeFileSync(join(svc, 'run'), [
    '#!/bin/sh',
    `echo start >> ${sh(files.starts)}`,
    `cd ${sh(dir)}`,
    'export XOPC_SERVICE_MARKER=runit XOPC_ALLOW_SIGUSR1_RESTART=1',
    `export XOPC_HOME=${sh(state)}`,
    `exec ${sh(process.execPath)} ${sh(CLI)} gateway --port ${port} --host 127.0.0.1 >> ${sh(files.log)} 2>&1`,
    '',
  ].join('\n'));
  // runsv runs ./finish after each exit with the exit code and the wait status.
  writeFileSync(join(svc, 'finish'), ['#!/bin/sh', `echo "$1 $2" >> ${sh(files.exits)}`, ''].join('\n'));
  chmodSync(join(svc, 'run'), 0o755);
  chmodSync(join(svc, 'finish'), 0o755);

  const stateEnv = { XOPC_HOME: state };
  const lockFile = lockPath(configPath(undefined, stateEnv), stateEnv);
  const lockPid = (): number | null => {
    try {
      return (JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number }).pid;
    } catch {
      return null;
    }
  };
  const log = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8') : '');

  const runsv = spawn('runsv', [svc], { stdio: 'ignore' });
  const runsvExit = once(runsv, 'exit');
  t.after(async () => {
    // Whatever happened above: take the service down, then the runsv we started.
    if (runsv.exitCode === null) {
      spawnSync('sv', ['-w', '10', 'down', svc], { stdio: 'ignore', timeout: 15_000 });
      runsv.kill('SIGTERM');
      await Promise.race([runsvExit, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    const pid = lockPid();
    if (pid && isRunning(pid)) process.kill(pid, 'SIGKILL');
    cleanup();
  });

  assert.ok(await waitForHealth(port, 20_000), `gateway did not come up under runsv:\n${log()}`);

  for (let i = 1; i <= RESTARTS; i++) {
    const pid = lockPid();
    assert.ok(pid && isRunning(pid), `round ${i}: no live gateway in the lock`);
    const status = spawnSync('sv', ['status', svc], { encoding: 'utf8', timeout: 5000 }).stdout;
    assert.match(status, new RegExp(`^run: .*\\(pid ${pid}\\)`), `runsv's pid is the gateway supervisor: ${status}`);
    process.kill(pid, 'SIGUSR1');
    assert.ok(await waitForExit(pid, 15_000), `round ${i}: gateway ${pid} did not exit after SIGUSR1`);
    assert.ok(await waitFor(() => lines(files.exits).length === i, 5000), `round ${i}: runsv saw no exit`);
    assert.equal(lines(files.exits)[i - 1], '0 0', `round ${i}: exit status (code, wait status)`);
    assert.ok(await waitFor(() => { const p = lockPid(); return p !== null && p !== pid && isRunning(p); }, 20_000), `round ${i}: no new gateway took the lock:\n${log()}`);
    assert.ok(await waitForHealth(port, 20_000), `round ${i}: not serving again:\n${log()}`);
  }

  // `xopc gateway restart` sees the manager (the gateway's parent, runsv) and waits for it.
  const before = lockPid();
  const restart = spawnSync(process.execPath, [CLI, 'gateway', 'restart', '--json'], { env: { ...process.env, XOPC_HOME: state, XOPC_CONFIG: '' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(restart.status, 0, restart.stdout + restart.stderr + log());
  const result = JSON.parse(restart.stdout) as { how: string; before: { pid: number }; after: { pid: number }; notes: string[] };
  assert.equal(result.how, 'service-manager');
  assert.equal(result.before.pid, before);
  assert.notEqual(result.after.pid, before);
  assert.match(result.notes.join('\n'), /runs under runit \(its parent: runsv, pid \d+\): it exits and the manager starts a new one/);

  // One start per round, the CLI's restart and the first: a crash loop would show many more.
  assert.equal(lines(files.starts).length, RESTARTS + 2, log());
  assert.doesNotMatch(log(), /EADDRINUSE|already in use|already running/i);

  const down = spawnSync('sv', ['-w', '10', 'down', svc], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(down.status, 0, down.stdout + down.stderr);
  assert.equal(lines(files.exits).at(-1), '0 0', 'a stop is a clean exit too');
  assert.equal(lines(files.starts).length, RESTARTS + 2);
  spawnSync('sv', ['exit', svc], { stdio: 'ignore', timeout: 5000 });
  await Promise.race([runsvExit, new Promise((r) => setTimeout(r, 5000).unref())]);
  if (runsv.exitCode === null) runsv.kill('SIGTERM');
});
