import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeHome, startGateway, type Gateway } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';

const RESTARTS = 10;
const CLIENTS = 20;

/** SIGUSR1 `count` times, waiting each time until a new worker (or supervisor) serves. */
async function restartRepeatedly(gateway: Gateway, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const before = gateway.lock()!;
    process.kill(before.pid, 'SIGUSR1');
    await gateway.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: 20_000 });
  }
}

for (const mode of ['in-process', 'respawn'] as const) {
  for (const keepAlive of [true, false]) {
    test(`${mode} restarts under load lose no request (keep-alive ${keepAlive ? 'on' : 'off'})`, { timeout: 120_000 }, async () => {
      const env: NodeJS.ProcessEnv = { XOPC_ALLOW_SIGUSR1_RESTART: '1', ...(mode === 'in-process' ? { XOPC_NO_RESPAWN: '1' } : {}) };
      const gateway = await startGateway({ env });
      try {
        const firstPid = gateway.pid;
        const restarts = restartRepeatedly(gateway, RESTARTS);
        const load = await runLoad({ port: gateway.port, clients: CLIENTS, keepAlive, until: restarts, maxMs: 90_000 });
        await restarts;
        const after = gateway.lock()!;
        if (mode === 'in-process') assert.equal(after.pid, firstPid, 'in-process restarts keep the supervisor pid');
        else assert.notEqual(after.pid, firstPid, 'respawn restarts give a new supervisor pid');
        assert.ok(load.ok > RESTARTS * CLIENTS, `the load really ran (${load.ok} requests)`);
        assert.deepEqual(load.errors, {}, `failed requests during ${RESTARTS} restarts: ${JSON.stringify(load.errors)} of ${load.ok + load.failed}`);
      } finally {
        await gateway.stop();
        removeHome(gateway.home);
      }
    });
  }
}
