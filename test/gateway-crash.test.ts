import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { alive, removeHome, startGateway, waitUntil } from './helpers/gateway.js';

const CRASHING_WORKER = fileURLToPath(new URL('./fixtures/crashing-worker.js', import.meta.url));

test('kill -9 of the worker gets a new worker serving on the same port', async () => {
  const gw = await startGateway();
  try {
    for (let i = 0; i < 3; i++) {
      const before = gw.lock()!;
      const t0 = Date.now();
      process.kill(before.workerPid!, 'SIGKILL');
      const after = await gw.waitForServing({ exceptWorkerPid: before.workerPid! });
      assert.equal(after.pid, before.pid);
      assert.equal(after.port, before.port);
      console.log(`worker kill -9 -> serving again in ${Date.now() - t0} ms`);
    }
    assert.match(gw.output(), /worker crashed: starting a new one/);
    assert.match(gw.output(), /signal=SIGKILL/);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('kill -9 of the supervisor leaves no worker behind (gone within 1 s)', async () => {
  const gw = await startGateway();
  try {
    const { workerPid } = gw.lock()!;
    process.kill(gw.pid, 'SIGKILL');
    await gw.exited;
    const t0 = Date.now();
    await waitUntil(() => !alive(workerPid), 1000, `worker ${workerPid} to exit`);
    console.log(`orphaned worker exited ${Date.now() - t0} ms after the supervisor died`);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('a worker that crashes at boot ends in a non-zero exit after backoff, not a hot loop', async () => {
  const t0 = Date.now();
  const gw = await startGateway({ env: { XOPC_WORKER_SCRIPT: CRASHING_WORKER }, expectExit: true });
  try {
    const exit = await gw.exited;
    const ms = Date.now() - t0;
    assert.equal(exit.code, 1);
    const crashes = gw.output().match(/worker crashed: starting a new one/g) ?? [];
    assert.equal(crashes.length, 4, 'four retries, then the fifth crash gives up');
    assert.match(gw.output(), /giving up/);
    // Backoff 100 + 200 + 400 + 800 ms between the five attempts.
    assert.ok(ms >= 1500, `backed off (${ms} ms)`);
    for (const delay of [100, 200, 400, 800]) assert.match(gw.output(), new RegExp(`retryInMs=${delay}\\b`));
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});
