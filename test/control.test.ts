import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { sendControl } from '../src/control.js';
import { readLock, type LockState } from '../src/lock.js';
import { lockPath } from '../src/paths.js';
import { deliver } from '../src/commands/deliver.js';
import { removeHome, startGateway } from './helpers/gateway.js';

// The control channel is how stop/restart work without POSIX signals (Windows). Its code
// is the same on every platform (a named pipe there, a Unix socket here), so it is tested here.

function target(gw: { home: string; configPath: string }) {
  const file = lockPath(gw.configPath, { XOPC_HOME: gw.home });
  const lock = readLock(file);
  assert.equal(lock.state, 'held');
  return { target: { configPath: gw.configPath, lockPath: file, lock }, info: (lock as Extract<LockState, { state: 'held' }>).info };
}

test('the control channel refuses wrong tokens and bad requests, and changes nothing', async () => {
  const gw = await startGateway();
  try {
    const info = gw.lock() as { control?: string; pid: number; workerPid?: number | null };
    assert.ok(info.control && existsSync(info.control), 'the lock names the control socket');
    assert.deepEqual(await sendControl(info.control, { cmd: 'stop', token: 'wrong-token-123456' }), { ok: false, error: 'wrong token' });
    assert.deepEqual(await sendControl(info.control, { cmd: 'explode' as 'stop', token: gw.token }), { ok: false, error: 'unknown command "explode"' });
    assert.equal((await fetch(gw.url('/health'))).status, 200);
    assert.equal(gw.lock()!.workerPid, info.workerPid);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('stop through the control channel drains and exits 0', async () => {
  const gw = await startGateway();
  try {
    const { target: t, info } = target(gw);
    await deliver(t, info, 'stop', 'control');
    assert.equal((await gw.exited).code, 0);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('restart through the control channel replaces the worker (in-process)', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' } });
  try {
    const before = gw.lock()!;
    const { target: t, info } = target(gw);
    await deliver(t, info, 'restart', 'control');
    const after = await gw.waitForServing({ exceptWorkerPid: before.workerPid! });
    assert.equal(after.pid, before.pid);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('after a respawn restart the new supervisor owns the control channel', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1' } });
  try {
    const before = gw.lock()!;
    process.kill(before.pid, 'SIGUSR1');
    const after = (await gw.waitForServing({ exceptPid: before.pid })) as { control?: string; pid: number };
    await gw.exited;
    // The new supervisor opens it once it holds the lock, just after it starts serving.
    const deadline = Date.now() + 5000;
    let answer;
    while (Date.now() < deadline) {
      answer = await sendControl(after.control ?? (gw.lock() as { control?: string }).control ?? '', { cmd: 'stop', token: gw.token }).catch(() => null);
      if (answer) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(answer, { ok: true });
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});
