/**
 * Benchmark 1, HTTP throughput: requests per second and p99 latency of `GET /health` and
 * an authenticated `POST /api/message` (channel webchat, mock-llm as the model) on a real
 * gateway (supervisor + worker), and, in the same run, alternating, on a bare Koa app with
 * the same routes (bench/lib/bare-koa.ts). autocannon, 16 connections, keep-alive.
 *
 * Gateways measured: started as a service manager starts it (logs to the log file only;
 * the default `info` level writes one line per request), started in a terminal (every log
 * line also pretty-printed there; the benchmark reads and drops it), and as a service with
 * `logging.level: "warn"` (no request lines), to show what the request log costs.
 *
 * POST /api/message answers 202 at once and runs the agent turn in the background (a call
 * to mock-llm and an fsync'd session append); the bare app only answers. Between runs the
 * benchmark waits until the gateway and mock-llm are idle again, so no run inherits the
 * previous one's backlog; how long that took, and the worker's memory right after the run,
 * are reported too.
 *
 *   npm run bench:http [-- --rounds=5 --duration=5 --connections=16]
 */
import autocannon, { type Result } from 'autocannon';
import { performance } from 'node:perf_hooks';
import { benchGateway, benchMockLlm, mockProviderConfig } from './lib/gateway.js';
import { rssMb, waitForIdle } from './lib/processes.js';
import { startBareKoa } from './lib/reference.js';
import { numberArg, quick, runBench } from './lib/run.js';
import { fmt, median, table } from './lib/stats.js';

const ROUNDS = numberArg('rounds', quick() ? 1 : 5);
const DURATION_S = numberArg('duration', quick() ? 2 : 5);
const CONNECTIONS = numberArg('connections', 16);
const TOKEN = 'bench-token-0123456789abcdefghij';

interface Target {
  name: string;
  port: number;
  /** Processes whose CPU must settle before the next round (the gateway's, mock-llm's). */
  pids: number[];
  /** The worker, whose memory after a run is reported. */
  workerPid?: number;
}

interface Sample {
  rps: number;
  p99: number;
  errors: number;
  non2xx: number;
  settleMs: number;
  accepted: number;
  rssMb: number;
}

function run(target: Target, endpoint: 'health' | 'message'): Promise<Result> {
  const base = { url: `http://127.0.0.1:${target.port}`, connections: CONNECTIONS, duration: DURATION_S };
  if (endpoint === 'health') return Promise.resolve(autocannon({ ...base, url: `${base.url}/health` }));
  let connection = 0;
  return Promise.resolve(autocannon({
    ...base,
    url: `${base.url}/api/message`,
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    // One chat per connection: each connection's messages queue in their own session.
    setupClient: (client) => client.setBody(JSON.stringify({ channel: 'webchat', chat_id: `bench-c${connection++}`, content: 'What is the weather like today' })),
  }));
}

async function main(): Promise<void> {
  const mock = await benchMockLlm('It is sunny.');
  const config = mockProviderConfig(mock, { gateway: { auth: { token: TOKEN } } });
  const service = await benchGateway({ asService: true, config: { ...config, logging: { level: 'info' } } });
  const foreground = await benchGateway({ config: { ...config, logging: { level: 'info' } } });
  const quiet = await benchGateway({ asService: true, config: { ...config, logging: { level: 'warn' } } });
  const koa = await startBareKoa(TOKEN);
  const gatewayTarget = (name: string, g: typeof service): Target => ({ name, port: g.port, pids: [g.lock()!.pid, g.lock()!.workerPid!, mock.pid], workerPid: g.lock()!.workerPid! });
  const targets: Target[] = [
    gatewayTarget('gateway (service: log file)', service),
    gatewayTarget('gateway (terminal: log file + pretty copy)', foreground),
    gatewayTarget('gateway (service), logging.level warn', quiet),
    { name: 'bare Koa', port: koa.port, pids: [koa.pid] },
  ];
  const probe = await fetch(`http://127.0.0.1:${service.port}/api/message`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'webchat', chat_id: 'probe', content: 'hi' }) });
  if (probe.status !== 202) throw new Error(`POST /api/message answered ${probe.status}: ${await probe.text()}`);

  const samples = new Map<string, Sample[]>();
  for (const endpoint of ['health', 'message'] as const) {
    // Warm-up: JIT, connection pools, the first session files.
    for (const target of targets) {
      await run({ ...target }, endpoint);
      await waitForIdle(target.pids, { timeoutMs: 120_000 });
    }
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating, and the order rotates each round, so drift in machine load hits every target alike.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        const result = await run(target, endpoint);
        const rss = target.workerPid ? rssMb(target.workerPid) : Number.NaN;
        const t0 = performance.now();
        await waitForIdle(target.pids, { timeoutMs: 180_000 });
        const key = `${endpoint}|${target.name}`;
        samples.set(key, [...(samples.get(key) ?? []), { rps: result.requests.average, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx, settleMs: performance.now() - t0, accepted: result['2xx'], rssMb: rss }]);
      }
    }
  }

  console.log(`autocannon, ${CONNECTIONS} connections, keep-alive, ${DURATION_S} s per run, ${ROUNDS} rounds; medians over rounds\n`);
  const rows: Array<Array<string | number>> = [];
  for (const endpoint of ['health', 'message'] as const) {
    const ref = samples.get(`${endpoint}|bare Koa`)!;
    for (const target of targets) {
      const s = samples.get(`${endpoint}|${target.name}`)!;
      const rps = median(s.map((x) => x.rps));
      const p99 = median(s.map((x) => x.p99));
      const failed = s.reduce((n, x) => n + x.errors + x.non2xx, 0);
      const ratio = target.name === 'bare Koa' ? '1.00 (reference)' : `**${fmt(rps / median(ref.map((x) => x.rps)), 2)}**`;
      const background = endpoint === 'message' && target.name !== 'bare Koa';
      const turns = background ? fmt(median(s.map((x) => x.accepted / ((DURATION_S * 1000 + x.settleMs) / 1000))), 0) : '';
      const settle = background ? fmt(median(s.map((x) => x.settleMs)) / 1000, 1) : '';
      const rss = target.workerPid ? fmt(median(s.map((x) => x.rssMb)), 0) : '';
      rows.push([endpoint === 'health' ? 'GET /health' : 'POST /api/message', target.name, fmt(rps, 0), ratio, fmt(p99, 0), fmt(p99 / median(ref.map((x) => x.p99)), 2), failed, turns, settle, rss]);
    }
  }
  console.log(table(['route', 'server', 'req/s (median)', 'req/s vs bare Koa (target >= 0.85)', 'p99 ms', 'p99 vs bare Koa', 'errors + non-2xx', 'turns/s incl. background', 's until idle after the run', 'worker RSS MB after the run'], rows));
  console.log('\nautocannon reports latency in whole milliseconds; "turns/s" = accepted messages / (run time + time until the gateway was idle again).');
}

await runBench('HTTP throughput', 30 * 60_000, main);
