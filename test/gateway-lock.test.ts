import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { lockPath } from '../src/paths.js';
import { processStartTime } from '../src/proc.js';
import { alive, healthOk, removeHome, runCli, startGateway, tempHome } from './helpers/gateway.js';

function writeLock(home: string, configPath: string, content: object): string {
  const file = lockPath(configPath, { XOPC_HOME: home });
  mkdirSync(join(home, 'locks'), { recursive: true });
  writeFileSync(file, JSON.stringify(content));
  return file;
}

test('a second gateway on the same config fails with the message and exit 1', async () => {
  const first = await startGateway();
  try {
    const second = await startGateway({ home: first.home, expectExit: true });
    assert.equal((await second.exited).code, 1);
    assert.match(second.output(), new RegExp(`❌ Gateway already running \\(pid ${first.pid}\\)\\. Use --force to kill existing process\\.`));
    assert.ok(alive(first.pid), 'the first gateway keeps running');
  } finally {
    await first.stop();
    removeHome(first.home);
  }
});

test('gateways with different configs run side by side', async () => {
  const home = tempHome();
  const a = await startGateway({ home, configPath: join(home, 'a.json') });
  const b = await startGateway({ home, configPath: join(home, 'b.json') });
  try {
    assert.notEqual(a.lock()!.pid, b.lock()!.pid);
    for (const gw of [a, b]) assert.equal((await fetch(gw.url('/health'))).status, 200);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    removeHome(home);
  }
});

test('a lock left by a dead process is taken over', async () => {
  const home = tempHome();
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout.trim());
  assert.ok(!alive(deadPid));
  writeLock(home, join(home, 'config.json'), { pid: deadPid, createdAt: new Date().toISOString(), configPath: join(home, 'config.json'), startTime: 1 });
  const gw = await startGateway({ home });
  try {
    assert.equal(gw.lock()!.pid, gw.pid);
    assert.match(gw.output(), /took over a stale gateway lock/);
  } finally {
    await gw.stop();
    removeHome(home);
  }
});

test('a lock whose pid now belongs to another process (start time differs) is taken over', async () => {
  const home = tempHome();
  // Our own pid is alive, but the recorded start time is not ours: a reused pid.
  const realStart = processStartTime(process.pid);
  assert.notEqual(realStart, null, 'this test needs /proc');
  writeLock(home, join(home, 'config.json'), { pid: process.pid, createdAt: new Date().toISOString(), configPath: join(home, 'config.json'), startTime: realStart! - 1 });
  const gw = await startGateway({ home });
  try {
    assert.equal(gw.lock()!.pid, gw.pid);
    assert.match(gw.output(), /took over a stale gateway lock/);
  } finally {
    await gw.stop();
    removeHome(home);
  }
});

test('--force stops the gateway holding the lock and starts', async () => {
  const first = await startGateway();
  const second = await startGateway({ home: first.home, args: ['--port', '0', '--host', '127.0.0.1', '--force'] });
  try {
    const firstExit = await first.exited;
    assert.equal(firstExit.code, 0, `the first gateway drained and exited: ${JSON.stringify(firstExit)}\n${first.output()}`);
    assert.equal(second.lock()!.pid, second.pid);
    assert.equal((await fetch(second.url('/health'))).status, 200);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
    removeHome(first.home);
  }
});

test('a clean stop removes the lock', async () => {
  const gw = await startGateway();
  const file = lockPath(gw.configPath, { XOPC_HOME: gw.home });
  assert.ok(existsSync(file));
  process.kill(gw.pid, 'SIGTERM');
  assert.equal((await gw.exited).code, 0);
  assert.ok(!existsSync(file), 'lock removed');
  removeHome(gw.home);
});

test('the legacy gateway.pid of old versions is removed at start, with a log line', async () => {
  const home = tempHome();
  // A pid that surely is not running: a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  writeFileSync(join(home, 'gateway.pid'), `${dead}\n`);
  const gw = await startGateway({ home });
  try {
    assert.ok(!existsSync(join(home, 'gateway.pid')));
    assert.match(gw.output(), /removed the legacy gateway\.pid/);
  } finally {
    await gw.stop();
    removeHome(home);
  }
});

describe('a lock file that cannot be read', () => {
  test('while a gateway runs: status and stop still find it, a second start fails clearly and leaves the lock', { timeout: 60_000 }, async () => {
    const first = await startGateway();
    const file = lockPath(first.configPath, { XOPC_HOME: first.home });
    try {
      writeFileSync(file, '{"pid": 12 garbage');
      const status = await runCli(first.home, ['gateway', 'status', '--json']);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      const json = JSON.parse(status.stdout);
      assert.equal(json.state, 'running');
      assert.equal(json.pid, first.pid);
      assert.equal(json.lock, 'unreadable');

      const second = await startGateway({ home: first.home, expectExit: true });
      assert.equal((await second.exited).code, 1);
      assert.match(second.output(), new RegExp(`❌ Gateway already running \\(pid ${first.pid}\\): its lock file .+ is unreadable`));
      assert.equal(readFileSync(file, 'utf8'), '{"pid": 12 garbage', 'the lock is left as it was');
      assert.ok(alive(first.pid), 'the first gateway keeps running');
      assert.ok(await healthOk(first.lock() ? first.lock()!.port! : first.port), 'and serving');

      const stop = await runCli(first.home, ['gateway', 'stop']);
      assert.equal(stop.code, 0, stop.stdout + stop.stderr);
      assert.match(stop.stdout, new RegExp(`Gateway stopped \\(pid ${first.pid}\\)`));
      assert.equal((await first.exited).code, 0);
      assert.ok(!existsSync(file), 'the lock is removed once its gateway is gone');
    } finally {
      await first.stop();
      removeHome(first.home);
    }
  });

  test('found through the process table when the control channel is gone too', { timeout: 60_000 }, async () => {
    const first = await startGateway();
    try {
      const control = first.lock()!.control!;
      writeFileSync(lockPath(first.configPath, { XOPC_HOME: first.home }), '');
      utimesSync(lockPath(first.configPath, { XOPC_HOME: first.home }), new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
      rmSync(control);
      const status = await runCli(first.home, ['gateway', 'status', '--json']);
      assert.equal(status.code, 0, status.stdout + status.stderr);
      assert.equal(JSON.parse(status.stdout).pid, first.pid);
      assert.match(JSON.parse(status.stdout).found, /process table|xopc gateway/);
    } finally {
      await first.stop();
      removeHome(first.home);
    }
  });

  test('with no gateway running: status says not running, and a start removes it and serves', { timeout: 60_000 }, async () => {
    const home = tempHome();
    const file = writeLock(home, join(home, 'config.json'), {});
    writeFileSync(file, 'not json at all');
    const status = await runCli(home, ['gateway', 'status']);
    assert.equal(status.code, 3, status.stdout);
    assert.match(status.stdout, /unreadable lock/);
    const gw = await startGateway({ home });
    try {
      assert.equal(gw.lock()!.pid, gw.pid);
      assert.match(gw.output(), /removed an unreadable gateway lock/);
    } finally {
      await gw.stop();
      removeHome(home);
    }
  });
});

test('a legacy gateway.pid naming a live process stops the start with its pid; --force removes it and goes on', async (t) => {
  const home = tempHome();
  const old = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => {
    old.kill('SIGKILL');
    removeHome(home);
  });
  const file = join(home, 'gateway.pid');
  writeFileSync(file, `${old.pid}\n`);
  // Bounded: a gateway that starts anyway is killed when the time is up, and the test fails.
  const refused = await runCli(home, ['gateway', '--port', '0', '--host', '127.0.0.1'], { timeoutMs: 20_000 });
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, new RegExp(`gateway\\.pid names pid ${old.pid}, which is running: .*Stop it first \\(\`kill ${old.pid}\`\\).*--force`));
  assert.ok(existsSync(file), 'the file is left for the user to decide');
  assert.ok(alive(old.pid), 'the old process is left alone');

  const forced = await startGateway({ home, args: ['--port', '0', '--host', '127.0.0.1', '--force'] });
  try {
    assert.ok(!existsSync(file));
    assert.ok(alive(old.pid), '--force removes the file, it kills nothing it cannot tell is a gateway');
  } finally {
    await forced.stop();
  }
});
