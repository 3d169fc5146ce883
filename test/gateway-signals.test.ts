import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockPath } from '../src/paths.js';
import { alive, removeHome, startGateway, waitUntil } from './helpers/gateway.js';
import { rawRequest } from './helpers/net.js';

const BODY = JSON.stringify({ hello: 'world', pad: 'x'.repeat(200) });

/** Starts a POST whose body is only half sent; returns a function that sends the rest. */
function halfUpload(port: number, token: string) {
  const req = rawRequest(port);
  req.socket.write(
    `POST /api/upload-test HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n` + BODY.slice(0, 50),
  );
  return { ...req, finish: () => req.socket.write(BODY.slice(50)) };
}

test('SIGTERM lets an upload in flight finish, then exits 0 within the drain bound and removes the lock', async () => {
  const gw = await startGateway({ config: { gateway: { drainTimeoutMs: 3000 } } });
  try {
    const upload = halfUpload(gw.port, gw.token);
    await sleep(100); // the request is being read by the worker
    const t0 = Date.now();
    process.kill(gw.pid, 'SIGTERM');
    await sleep(300);
    upload.finish();
    const response = await upload.response;
    assert.match(response, /^HTTP\/1\.1 404 /, 'the in-flight request got its answer');
    assert.match(response, /connection: close/i, 'answered with Connection: close while draining');
    assert.match(response, /"code":"NOT_FOUND"/);
    const exit = await gw.exited;
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - t0 < 3000, `exited within the drain bound (${Date.now() - t0} ms)`);
    assert.ok(!existsSync(lockPath(gw.configPath, { XOPC_HOME: gw.home })), 'lock removed');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('a request still running past the drain bound is cut and the gateway still exits', async () => {
  const gw = await startGateway({ config: { gateway: { drainTimeoutMs: 800 } } });
  try {
    const upload = halfUpload(gw.port, gw.token); // never finished
    await sleep(100);
    const workerPid = gw.lock()!.workerPid!;
    const t0 = Date.now();
    process.kill(gw.pid, 'SIGTERM');
    const closed = await upload.closed;
    const exit = await gw.exited;
    const ms = Date.now() - t0;
    assert.equal(exit.code, 0);
    assert.ok(ms >= 700 && ms < 800 + 1500, `cut at the bound, exited soon after (${ms} ms)`);
    assert.ok(closed, 'the stuck connection was closed');
    await waitUntil(() => !alive(workerPid), 2000, 'worker gone');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('a second Ctrl+C (SIGINT) stops at once', async () => {
  const gw = await startGateway({ config: { gateway: { drainTimeoutMs: 10_000 } } });
  try {
    const upload = halfUpload(gw.port, gw.token);
    await sleep(100);
    const t0 = Date.now();
    process.kill(gw.pid, 'SIGINT');
    await sleep(200);
    process.kill(gw.pid, 'SIGINT');
    const exit = await gw.exited;
    assert.ok(Date.now() - t0 < 2000, `stopped without waiting for the 10 s drain (${Date.now() - t0} ms)`);
    assert.equal(exit.code, 130);
    await upload.closed;
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('SIGUSR1 without XOPC_ALLOW_SIGUSR1_RESTART is logged and ignored (and opens no inspector)', async () => {
  const gw = await startGateway();
  try {
    const before = gw.lock()!;
    process.kill(gw.pid, 'SIGUSR1');
    process.kill(before.workerPid!, 'SIGUSR1'); // a process-group signal reaches the worker too
    await waitUntil(() => /restarts by signal are disabled/.test(gw.output()), 5000, 'the warning');
    await sleep(300);
    const after = gw.lock()!;
    assert.equal(after.pid, before.pid);
    assert.equal(after.workerPid, before.workerPid);
    assert.ok(alive(before.workerPid));
    assert.equal((await fetch(gw.url('/health'))).status, 200);
    assert.doesNotMatch(gw.output(), /Debugger listening/);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('SIGUSR1 in-process mode keeps the supervisor pid and replaces the worker', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' } });
  try {
    const before = gw.lock()!;
    process.kill(gw.pid, 'SIGUSR1');
    const after = await gw.waitForServing({ exceptWorkerPid: before.workerPid! });
    assert.equal(after.pid, before.pid);
    await waitUntil(() => !alive(before.workerPid), 7000, 'old worker gone');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('SIGUSR1 respawn mode hands over to a new supervisor pid; the old one exits 0', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1' } });
  try {
    const before = gw.lock()!;
    process.kill(gw.pid, 'SIGUSR1');
    const after = await gw.waitForServing({ exceptPid: before.pid });
    assert.notEqual(after.pid, before.pid);
    assert.notEqual(after.workerPid, before.workerPid);
    assert.equal(after.port, before.port, 'same port');
    assert.equal((await gw.exited).code, 0);
    assert.ok(alive(after.pid));
    assert.equal((await fetch(gw.url('/health'))).status, 200);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('SIGUSR1 under a service manager drains and exits 0', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_SERVICE_MARKER: 'test' } });
  try {
    const before = gw.lock()!;
    process.kill(gw.pid, 'SIGUSR1');
    assert.equal((await gw.exited).code, 0);
    assert.ok(!existsSync(lockPath(gw.configPath, { XOPC_HOME: gw.home })), 'lock released for the next instance');
    await waitUntil(() => !alive(before.workerPid), 2000, 'worker gone');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

for (const mode of ['in-process', 'respawn'] as const) {
  test(`a ${mode} restart with a config edited into something invalid fails the restart, not the gateway`, async () => {
    const env: NodeJS.ProcessEnv = { XOPC_ALLOW_SIGUSR1_RESTART: '1', ...(mode === 'in-process' ? { XOPC_NO_RESPAWN: '1' } : {}) };
    const gw = await startGateway({ env });
    try {
      const before = gw.lock()!;
      const config = JSON.parse(readFileSync(gw.configPath, 'utf8'));
      config.gateway.drainTimeoutMs = 'soon';
      writeFileSync(gw.configPath, JSON.stringify(config));
      process.kill(gw.pid, 'SIGUSR1');
      await waitUntil(() => /restart failed/.test(gw.output()), 10_000, 'the restart to fail');
      const after = gw.lock()!;
      assert.equal(after.pid, before.pid);
      assert.equal(after.workerPid, before.workerPid);
      assert.equal((await fetch(gw.url('/health'))).status, 200);
      assert.ok(alive(gw.pid));
    } finally {
      await gw.stop();
      removeHome(gw.home);
    }
  });
}
