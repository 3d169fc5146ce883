import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { lockPath } from '../src/paths.js';
import { processStartTime } from '../src/proc.js';
import { alive, removeHome, runCli, startGateway, tempHome, waitUntil } from './helpers/gateway.js';
import net from 'node:net';

function plantLock(home: string, info: object): string {
  const file = lockPath(join(home, 'config.json'), { XOPC_HOME: home });
  mkdirSync(join(home, 'locks'), { recursive: true });
  writeFileSync(file, JSON.stringify({ createdAt: new Date().toISOString(), configPath: join(home, 'config.json'), ...info }));
  return file;
}

test('status: running prints the block with port, URL and the masked token; --json too', async () => {
  const gw = await startGateway();
  try {
    const text = await runCli(gw.home, ['gateway', 'status']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /✅ Gateway is running/);
    assert.match(text.stdout, new RegExp(`Port: ${gw.port}`));
    assert.match(text.stdout, new RegExp(`URL: http://127\\.0\\.0\\.1:${gw.port}`));
    assert.ok(!text.stdout.includes(gw.token), 'token not printed in full');
    // A generated token is 43 characters: 4 from each end show, under a quarter.
    assert.ok(text.stdout.includes(`${gw.token.slice(0, 4)}...${gw.token.slice(-4)}`), 'masked token');
    assert.ok(!text.stdout.includes(gw.token.slice(0, 5)), 'no more than that');
    const json = await runCli(gw.home, ['gateway', 'status', '--json']);
    const status = JSON.parse(json.stdout);
    assert.equal(status.state, 'running');
    assert.equal(status.port, gw.port);
    assert.equal(status.pid, gw.pid);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('status: stopped and stale lock both exit 3 and say which', async () => {
  const home = tempHome();
  try {
    const stopped = await runCli(home, ['gateway', 'status']);
    assert.equal(stopped.code, 3);
    assert.match(stopped.stdout, /not running/);
    const dead = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
    plantLock(home, { pid: dead, startTime: 1, port: 1, host: '127.0.0.1', workerPid: null });
    const stale = await runCli(home, ['gateway', 'status', '--json']);
    assert.equal(stale.code, 3);
    assert.equal(JSON.parse(stale.stdout).state, 'stale');
    const staleText = await runCli(home, ['gateway', 'status']);
    assert.match(staleText.stdout, /stale lock/);
  } finally {
    removeHome(home);
  }
});

test('status: a live lock owner that does not answer is reported as not answering (exit 1)', async () => {
  const home = tempHome();
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  // A port that accepts connections and never answers: a hung gateway.
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await waitUntil(() => processStartTime(sleeper.pid!) !== null, 2000, 'sleeper');
    plantLock(home, { pid: sleeper.pid, startTime: processStartTime(sleeper.pid!), port: (silent.address() as net.AddressInfo).port, host: '127.0.0.1', workerPid: null });
    const result = await runCli(home, ['gateway', 'status']);
    assert.equal(result.code, 1);
    assert.match(result.stdout, new RegExp(`process ${sleeper.pid} is alive but not answering`));
  } finally {
    silent.close();
    sleeper.kill('SIGKILL');
    removeHome(home);
  }
});

test('stop: graceful stop exits 0, removes the lock; stop again says not running (exit 0)', async () => {
  const gw = await startGateway();
  try {
    const { workerPid } = gw.lock()!;
    const result = await runCli(gw.home, ['gateway', 'stop']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /✅ Gateway stopped \(pid \d+, \d+ ms\)/);
    assert.equal((await gw.exited).code, 0);
    assert.ok(!alive(workerPid));
    assert.ok(!existsSync(lockPath(gw.configPath, { XOPC_HOME: gw.home })));
    const again = await runCli(gw.home, ['gateway', 'stop']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /not running/);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('stop --force kills at once and clears the lock', async () => {
  const gw = await startGateway();
  try {
    const { workerPid } = gw.lock()!;
    const result = await runCli(gw.home, ['gateway', 'stop', '--force']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await gw.exited).signal, 'SIGKILL');
    await waitUntil(() => !alive(workerPid), 2000, 'worker gone');
    assert.ok(!existsSync(lockPath(gw.configPath, { XOPC_HOME: gw.home })), 'stale lock cleared');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('stop --timeout: SIGKILL when the drain takes longer', async () => {
  const gw = await startGateway({ config: { gateway: { drainTimeoutMs: 20_000 } } });
  try {
    // Keep a request in flight: headers sent, body never finished.
    const net = await import('node:net');
    const socket = net.connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`POST /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const result = await runCli(gw.home, ['gateway', 'stop', '--timeout', '500']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /did not stop within 500 ms: sending SIGKILL/);
    assert.ok(Date.now() - t0 < 5000);
    socket.destroy();
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('restart: verifies the new instance (respawn) and says so', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1' } });
  try {
    const before = gw.lock()!;
    const result = await runCli(gw.home, ['gateway', 'restart']);
    assert.equal(result.code, 0, result.stderr);
    const after = gw.lock()!;
    assert.notEqual(after.pid, before.pid);
    assert.match(result.stdout, new RegExp(`✅ Gateway restarted \\(pid ${before.pid} -> ${after.pid}`));
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('restart: a gateway without XOPC_ALLOW_SIGUSR1_RESTART is reported with how to enable it (exit 1)', async () => {
  const gw = await startGateway();
  try {
    const before = gw.lock()!;
    const result = await runCli(gw.home, ['gateway', 'restart']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /XOPC_ALLOW_SIGUSR1_RESTART=1/);
    assert.equal(gw.lock()!.pid, before.pid);
    assert.equal(gw.lock()!.workerPid, before.workerPid);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('restart --force: kills and starts the same command line again', async () => {
  const gw = await startGateway();
  try {
    const before = gw.lock()!;
    const result = await runCli(gw.home, ['gateway', 'restart', '--force']);
    assert.equal(result.code, 0, result.stderr);
    const after = gw.lock()!;
    assert.notEqual(after.pid, before.pid);
    assert.ok(!alive(before.pid));
    assert.match(result.stdout, /✅ Gateway restarted/);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('restart on a stopped gateway exits 3; token prints the token; unknown commands exit 2', async () => {
  const gw = await startGateway();
  try {
    const token = await runCli(gw.home, ['gateway', 'token']);
    assert.equal(token.stdout.trim(), gw.token);
    assert.ok(gw.token.length >= 43, 'at least 32 random bytes, base64url');
    await runCli(gw.home, ['gateway', 'stop']);
    const restart = await runCli(gw.home, ['gateway', 'restart']);
    assert.equal(restart.code, 3);
    assert.match(restart.stderr, /not running/);
    const unknown = await runCli(gw.home, ['gateway', 'frobnicate']);
    assert.equal(unknown.code, 2);
    assert.doesNotMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
    const badPort = await runCli(gw.home, ['gateway', '--port', 'abc']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--port must be an integer/);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});
