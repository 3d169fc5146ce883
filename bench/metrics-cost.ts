/**
 * What `/metrics` costs `GET /health`: requests per second and p99 of `/health` on three
 * gateways started side by side (as a service manager starts them: log file only,
 * `logging.level` info), measured alternating with the order rotating each round, the
 * method of bench/http-throughput.ts:
 *
 * - `gateway.metrics.enabled: false`: no instrumentation (the reference);
 * - metrics on (the default): every request counted and timed by route template;
 * - metrics on and scraped once a second with the token during the run, as Prometheus would.
 *
 * autocannon, 16 connections, keep-alive. Besides req/s and p99, the worker's CPU time per
 * answered request (from /proc), which other processes on a shared machine barely move.
 * First, in this process: what recording one request
 * costs (the counter and the histogram of its route), in ns of CPU time, median of 9 batches of 200,000.
 *
 *   npm run bench:metrics [-- --rounds=5 --duration=5 --connections=16]
 */
import autocannon, { type Result } from 'autocannon';
import { createPromMetrics } from '../worker/metrics/prom-metrics.js';
import { benchGateway } from './lib/gateway.js';
import { cpuMs, waitForIdle } from './lib/processes.js';
import { numberArg, quick, runBench } from './lib/run.js';
import { fmt, median, table } from './lib/stats.js';

const ROUNDS = numberArg('rounds', quick() ? 1 : 5);
const DURATION_S = numberArg('duration', quick() ? 2 : 5);
const CONNECTIONS = numberArg('connections', 16);
const TOKEN = 'bench-token-0123456789abcdefghij';
const SCRAPE_INTERVAL_MS = 1000;

interface Target {
  name: string;
  port: number;
  pids: number[];
  workerPid: number;
  scrape: boolean;
}

/** GET /metrics every second until `stop` resolves; returns how many scrapes answered 200. */
async function scrapeLoop(port: number, stop: Promise<unknown>): Promise<number> {
  let done = false;
  void stop.then(() => (done = true));
  let ok = 0;
  while (!done) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await res.text();
    if (res.ok) ok++;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, SCRAPE_INTERVAL_MS)), stop]);
  }
  return ok;
}

async function run(target: Target): Promise<{ result: Result; scrapes: number; cpuUsPerRequest: number }> {
  const cpuBefore = cpuMs(target.workerPid);
  const load = Promise.resolve(autocannon({ url: `http://127.0.0.1:${target.port}/health`, connections: CONNECTIONS, duration: DURATION_S }));
  const scrapes = target.scrape ? scrapeLoop(target.port, load) : Promise.resolve(0);
  const result = await load;
  // CPU time the worker spent per answered request: unlike req/s, barely moved by other
  // processes competing for the cores (the worker's CPU is the worker's work).
  const cpuUsPerRequest = ((cpuMs(target.workerPid) - cpuBefore) * 1000) / Math.max(1, result.requests.total);
  return { result, scrapes: await scrapes, cpuUsPerRequest };
}

/** ns per recorded request, in this process: the per-request work the instrumentation adds to the worker. */
function perRequestCost(): { ns: number; batches: number[] } {
  const metrics = createPromMetrics({ pendingMessages: () => 0, supervisor: () => null });
  const batches: number[] = [];
  const calls = 200_000;
  for (let batch = 0; batch < 10; batch++) {
    // CPU time, not wall time: on a shared machine the wall clock also counts other processes' turns.
    const t0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) metrics.httpRequest('GET', '/health', 200, 0.0004 + (i % 7) * 0.001);
    const used = process.cpuUsage(t0);
    const ns = ((used.user + used.system) * 1000) / calls;
    // The first batch warms up the JIT.
    if (batch > 0) batches.push(ns);
  }
  return { ns: median(batches), batches };
}

async function main(): Promise<void> {
  const cost = perRequestCost();
  console.log(`recording one request (counter + histogram, one label set): **${fmt(cost.ns, 0)} ns** median (batches: ${cost.batches.map((ns) => fmt(ns, 0)).join(', ')})\n`);
  const base = { gateway: { auth: { token: TOKEN } }, logging: { level: 'info' } };
  const off = await benchGateway({ asService: true, config: { ...base, gateway: { ...base.gateway, metrics: { enabled: false } } } });
  const on = await benchGateway({ asService: true, config: base });
  const scraped = await benchGateway({ asService: true, config: base });
  const target = (name: string, g: typeof on, scrape: boolean): Target => ({ name, port: g.port, pids: [g.lock()!.pid, g.lock()!.workerPid!], workerPid: g.lock()!.workerPid!, scrape });
  const targets: Target[] = [
    target('metrics off (gateway.metrics.enabled: false)', off, false),
    target('metrics on (default)', on, false),
    target('metrics on, scraped every 1 s', scraped, true),
  ];
  for (const target of targets) {
    await run(target);
    await waitForIdle(target.pids, { timeoutMs: 60_000 });
  }
  const samples = new Map<string, Array<{ rps: number; p99: number; failed: number; scrapes: number; cpuUs: number }>>();
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const target of order) {
      const { result, scrapes, cpuUsPerRequest } = await run(target);
      await waitForIdle(target.pids, { timeoutMs: 60_000 });
      samples.set(target.name, [...(samples.get(target.name) ?? []), { rps: result.requests.average, p99: result.latency.p99, failed: result.errors + result.non2xx, scrapes, cpuUs: cpuUsPerRequest }]);
    }
  }
  console.log(`autocannon GET /health, ${CONNECTIONS} connections, keep-alive, ${DURATION_S} s per run, ${ROUNDS} rounds, alternating; medians over rounds\n`);
  const reference = median(samples.get(targets[0]!.name)!.map((s) => s.rps));
  const referenceCpu = median(samples.get(targets[0]!.name)!.map((s) => s.cpuUs));
  const rows = targets.map((target) => {
    const s = samples.get(target.name)!;
    const rps = median(s.map((x) => x.rps));
    const cpu = median(s.map((x) => x.cpuUs));
    return [target.name, fmt(rps, 0), fmt(rps / reference, 3), fmt(cpu, 1), fmt(cpu / referenceCpu, 3), fmt(median(s.map((x) => x.p99)), 0), s.reduce((n, x) => n + x.failed, 0), target.scrape ? s.reduce((n, x) => n + x.scrapes, 0) : ''];
  });
  console.log(table(['gateway', 'req/s (median)', 'req/s vs metrics off', 'worker CPU us per request (median)', 'CPU vs metrics off', 'p99 ms', 'errors + non-2xx', 'scrapes answered'], rows));
  console.log(`\nreq/s per round: ${targets.map((t) => `${t.name}: ${samples.get(t.name)!.map((x) => fmt(x.rps, 0)).join(', ')}`).join('; ')}`);
  console.log(`worker CPU us per request per round: ${targets.map((t) => `${t.name}: ${samples.get(t.name)!.map((x) => fmt(x.cpuUs, 1)).join(', ')}`).join('; ')}`);
}

await runBench('/metrics cost on GET /health throughput', 15 * 60_000, main);
