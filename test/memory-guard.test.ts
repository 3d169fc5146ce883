import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';
import { ECHO_RULE, startMockLlm } from './helpers/mock-llm.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const TOKEN = 'memory-guard-token-0123456789abcdef';
const CHECK_MS = 200;
const MB = 1024 * 1024;
// Loading the model library on the first agent turn adds ~34 MB to a worker: a limit this
// far above a warmed-up worker is crossed by its first turn and not before.
const MARGIN_MB = 15;

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

async function agentTurn(gateway: Gateway): Promise<void> {
  const res = await fetch(gateway.url('/api/agent'), {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'hello' }),
  });
  assert.equal(res.status, 200, await res.text());
}

// todo: flaky. A fixed margin over one warmed-up worker's RSS does not tell "crossed by its
// first turn" from "grew under load before it": in full-suite runs a fresh worker sometimes
// crosses before its turn (2 replacements for 1 crossing), and with a larger margin a turn
// sometimes does not cross. The limit should come from each replacement worker's own numbers.
test('under load, a worker that crosses gateway.worker.maxRssMb is replaced once per crossing, with 0 failed requests', { todo: 'the limit margin is not robust to worker growth under load (see above)' }, async (t) => {
  const mock = await startMockLlm({ streaming: { chunkSize: 50, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
  t.after(() => mock.stop());
  const config = {
    gateway: { auth: { token: TOKEN } },
    agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
  };
  const gateway = await startGateway({ config, env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' } });
  t.after(() => gateway.stop());

  // How big a warmed-up worker without the model library is: the limit goes above that.
  for (let i = 0; i < 20; i++) await fetch(gateway.url('/health')).then((res) => res.text());
  await sleep(500);
  const warm = sample(await metricsText(gateway), 'xopc_process_resident_memory_bytes{process="worker"}')!;
  const limitMb = Math.ceil(warm / MB) + MARGIN_MB;
  writeFileSync(gateway.configPath, JSON.stringify({ ...config, gateway: { ...config.gateway, worker: { maxRssMb: limitMb, memoryCheckMs: CHECK_MS } } }));
  // A restart makes the supervisor read the config again.
  const first = gateway.lock()!;
  process.kill(first.pid, 'SIGUSR1');
  const guarded = await gateway.waitForServing({ exceptWorkerPid: first.workerPid! });

  let stopLoad!: () => void;
  const load = runLoad({ port: gateway.port, clients: 4, keepAlive: true, until: new Promise<void>((resolve) => (stopLoad = resolve)), maxMs: 120_000 });
  try {
    // Under load and under the limit: several reports, no replacement.
    await sleep(CHECK_MS * 8);
    const before = await metricsText(gateway);
    assert.ok(sample(before, 'xopc_process_resident_memory_bytes{process="worker"}')! < limitMb * MB, `the guarded worker is under ${limitMb} MB before its first turn`);
    assert.equal(gateway.lock()!.workerPid, guarded.workerPid);

    // Crossing 1: the first agent turn loads the model library.
    await agentTurn(gateway);
    const second = await gateway.waitForServing({ exceptWorkerPid: guarded.workerPid! });
    await sleep(CHECK_MS * 8);
    assert.equal(gateway.lock()!.workerPid, second.workerPid, 'the new worker is under the limit and stays');
    let text = await metricsText(gateway);
    assert.equal(sample(text, 'xopc_worker_recycles_total{reason="memory"}'), 1);
    assert.equal(count(gateway.output(), 'replacing the worker'), 1);

    // Crossing 2, in the new worker.
    await agentTurn(gateway);
    const third = await gateway.waitForServing({ exceptWorkerPid: second.workerPid! });
    await sleep(CHECK_MS * 8);
    assert.equal(gateway.lock()!.workerPid, third.workerPid);
    text = await metricsText(gateway);
    assert.equal(sample(text, 'xopc_worker_recycles_total{reason="memory"}'), 2);
    assert.equal(count(gateway.output(), 'replacing the worker'), 2);
  } finally {
    stopLoad();
  }
  const result = await load;
  assert.ok(result.ok > 100, `load ran (${result.ok} requests)`);
  assert.equal(result.failed, 0, JSON.stringify(result.errors));
  t.diagnostic(`limit ${limitMb} MB (warm worker ${Math.round(warm / MB)} MB); 2 crossings, 2 replacements; ${result.ok} requests under load, ${result.failed} failed`);
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
