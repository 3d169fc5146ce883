import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const TOKEN = 'memory-guard-token-0123456789abcdef';
const CHECK_MS = 200;
const MB = 1024 * 1024;

async function metricsText(gateway: Gateway): Promise<string> {
  const res = await fetch(gateway.url('/metrics'), { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.text();
}

function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** The worker's resident memory as it last reported it, from /metrics. */
async function workerRss(gateway: Gateway): Promise<number> {
  return sample(await metricsText(gateway), 'xopc_process_resident_memory_bytes{process="worker"}')!;
}

/**
 * Crossings made by moving the limit, not by waiting for growth: how much a worker grows
 * under load is not something a test can pin down, where a limit can be. Each crossing:
 * the limit goes well above the serving worker (its reports arm the guard), then to the
 * lowest allowed value, 32 MB, far below any worker. The serving worker is replaced once;
 * the fresh one is over the limit from its first report, so it is reported once (for the
 * gateway's life) and kept, never replaced in a loop. Limits apply without a restart.
 */
test('under load, a worker that crosses gateway.worker.maxRssMb is replaced once per crossing, with 0 failed requests', async (t) => {
  const config = { gateway: { auth: { token: TOKEN }, worker: { memoryCheckMs: CHECK_MS } } };
  const gateway = await startGateway({ config });
  t.after(() => gateway.stop());
  const setLimit = (maxRssMb: number) => writeFileSync(gateway.configPath, JSON.stringify({ gateway: { ...config.gateway, worker: { maxRssMb, memoryCheckMs: CHECK_MS } } }));
  const liveChanges = () => count(gateway.output(), 'the memory guard applies it at once');

  let stopLoad!: () => void;
  const load = runLoad({ port: gateway.port, clients: 4, keepAlive: true, until: new Promise<void>((resolve) => (stopLoad = resolve)), maxMs: 120_000 });
  const replaced: number[] = [];
  try {
    for (let crossing = 1; crossing <= 2; crossing++) {
      await sleep(CHECK_MS * 5);
      const serving = gateway.lock()!.workerPid!;
      const highMb = Math.ceil((await workerRss(gateway)) / MB) + 500;
      const applied = liveChanges();
      setLimit(highMb);
      await waitUntil(() => liveChanges() > applied, 10_000, 'the high limit to apply');
      // Reports under the limit arm the guard for this worker; no replacement.
      await sleep(CHECK_MS * 5);
      assert.equal(gateway.lock()!.workerPid, serving, 'a limit change replaces no worker, and a worker under it stays');

      setLimit(32);
      const next = await gateway.waitForServing({ exceptWorkerPid: serving, timeoutMs: 20_000 });
      replaced.push(serving);
      // The fresh worker is over 32 MB from its first report: kept.
      await sleep(CHECK_MS * 10);
      assert.equal(gateway.lock()!.workerPid, next.workerPid, 'the fresh worker, over the limit from the start, is kept');
      const text = await metricsText(gateway);
      assert.equal(sample(text, 'xopc_worker_recycles_total{reason="memory"}'), crossing);
      assert.equal(count(gateway.output(), 'replacing the worker'), crossing);
    }
  } finally {
    stopLoad();
  }
  const result = await load;
  assert.ok(result.ok > 100, `load ran (${result.ok} requests)`);
  assert.equal(result.failed, 0, JSON.stringify(result.errors));
  assert.equal(count(gateway.output(), 'already over the memory limit'), 1, 'the too-low limit is reported once');
  t.diagnostic(`2 crossings, 2 replacements (workers ${replaced.join(', ')}); ${result.ok} requests under load, ${result.failed} failed`);
});

test('a fresh worker already over the limit is reported once, not replaced in a loop', async (t) => {
  const gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN }, worker: { maxRssMb: 32, memoryCheckMs: 100 } } } });
  t.after(() => gateway.stop());
  const { workerPid } = gateway.lock()!;
  await waitUntil(() => gateway.output().includes('already over the memory limit'), 10_000, 'the over-the-limit report');
  // Twenty more reports.
  await sleep(2000);
  assert.equal(gateway.lock()!.workerPid, workerPid);
  // A crash brings a new worker, over the limit too: still one report for the gateway's life.
  process.kill(workerPid!, 'SIGKILL');
  const next = await gateway.waitForServing({ exceptWorkerPid: workerPid! });
  await sleep(2000);
  assert.equal(gateway.lock()!.workerPid, next.workerPid);
  assert.equal(count(gateway.output(), 'already over the memory limit'), 1);
  assert.equal(count(gateway.output(), 'replacing the worker'), 0);
});

test('gateway.worker.maxAgeHours replaces a worker that has run that long', async (t) => {
  // 0.0005 h = 1.8 s.
  const gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN }, worker: { maxAgeHours: 0.0005, memoryCheckMs: 100 } } } });
  t.after(() => gateway.stop());
  const { workerPid } = gateway.lock()!;
  await gateway.waitForServing({ exceptWorkerPid: workerPid!, timeoutMs: 20_000 });
  await waitUntil(async () => (sample(await metricsText(gateway), 'xopc_worker_recycles_total{reason="age"}') ?? 0) >= 1, 10_000, 'the age recycle in the metrics');
  assert.match(gateway.output(), /replacing the worker: ran \d+ s \(gateway\.worker\.maxAgeHours 2 s\)/);
});
