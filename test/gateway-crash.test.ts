import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CLI, alive, childEnv, removeHome, startGateway, tempHome, waitUntil } from './helpers/gateway.js';

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

/** Starts `xopc gateway`; resolves with its pid, its worker's pid and ms from "worker started" to "listening". */
function startUntilWorker(home: string, killAfterWorkerMs: number | null): Promise<{ pid: number; workerPid: number; bootMs: number | null }> {
  const proc = spawn(process.execPath, [CLI, 'gateway', '--port', '0', '--host', '127.0.0.1'], { env: childEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    let workerPid = 0;
    let workerAt = 0;
    const timer = setTimeout(() => reject(new Error(`no worker within 10 s:\n${output}`)), 10_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      if (!workerPid) {
        const match = /worker started workerPid=(\d+)/.exec(output);
        if (!match) return;
        workerPid = Number(match[1]);
        workerAt = Date.now();
        if (killAfterWorkerMs !== null) {
          clearTimeout(timer);
          void sleep(killAfterWorkerMs).then(() => {
            proc.kill('SIGKILL');
            resolve({ pid: proc.pid!, workerPid, bootMs: null });
          });
        }
      }
      if (killAfterWorkerMs === null && /gateway listening/.test(output)) {
        clearTimeout(timer);
        const bootMs = Date.now() - workerAt;
        proc.kill('SIGTERM');
        proc.once('exit', () => resolve({ pid: proc.pid!, workerPid, bootMs }));
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  });
}

// A worker whose supervisor dies while it is still loading finds a dead stdout pipe at its
// first log line. Such workers used to spin for ever in the log library's exit-time flush,
// holding the listening socket (fixed by worker/log-destination.ts).
test('kill -9 of the supervisor at any point of its worker\'s start-up leaves no worker behind', async () => {
  const home = tempHome();
  try {
    const { bootMs } = await startUntilWorker(home, null);
    const points = 12;
    const survivors: string[] = [];
    for (let i = 0; i < points; i++) {
      // Spread over the whole start-up and a little past it: the boot time measured above, x1.3.
      const delay = Math.round(((bootMs ?? 300) * 1.3 * i) / (points - 1));
      const { workerPid } = await startUntilWorker(home, delay);
      await waitUntil(() => !alive(workerPid), 3000, `worker ${workerPid} to exit`).catch(() => {
        survivors.push(`killed ${delay} ms after "worker started": worker ${workerPid} still running after 3 s`);
        process.kill(workerPid, 'SIGKILL');
      });
    }
    console.log(`worker boot ${bootMs} ms; ${points} supervisor kills across it`);
    assert.deepEqual(survivors, []);
  } finally {
    removeHome(home);
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
