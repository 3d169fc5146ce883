/**
 * What serving the control page costs the API: `GET /health` and an authenticated
 * `GET /api/cron` on this build and on a build from before the page existed, measured
 * the way bench/http-throughput.ts measures (autocannon, 16 connections, keep-alive,
 * alternating runs whose order rotates each round, medians over rounds), both gateways
 * started as a service manager starts them (log file only, `logging.level` info).
 *
 *   npm run bench:page-cost -- --before=/path/to/built/older/checkout [--rounds=5 --duration=5]
 *
 * The older checkout must be built (`npx tsc -p tsconfig.json` there; its node_modules
 * may be a link to this one's).
 */
import { join, resolve } from 'node:path';
import autocannon, { type Result } from 'autocannon';
import { benchGateway } from './lib/gateway.js';
import { cpuMs, waitForIdle } from './lib/processes.js';
import { numberArg, quick, runBench, stringArg } from './lib/run.js';
import { fmt, median, table } from './lib/stats.js';

const ROUNDS = numberArg('rounds', quick() ? 1 : 5);
const DURATION_S = numberArg('duration', quick() ? 2 : 5);
const CONNECTIONS = numberArg('connections', 16);
const BEFORE = stringArg('before', '');
const TOKEN = 'bench-token-0123456789abcdefghij';

type Endpoint = 'GET /health' | 'GET /api/cron';

function run(port: number, endpoint: Endpoint): Promise<Result> {
  const url = `http://127.0.0.1:${port}${endpoint.slice(4)}`;
  const headers: Record<string, string> = endpoint === 'GET /api/cron' ? { authorization: `Bearer ${TOKEN}` } : {};
  return Promise.resolve(autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION_S }));
}

async function main(): Promise<void> {
  if (!BEFORE) throw new Error('--before=<built checkout of an older version> is required');
  const config = { gateway: { auth: { token: TOKEN } }, logging: { level: 'info' } };
  const targets = [
    { name: 'before (no page)', gateway: await benchGateway({ asService: true, config, cli: join(resolve(BEFORE), 'dist/src/cli.js') }) },
    { name: 'after (page served)', gateway: await benchGateway({ asService: true, config }) },
  ];
  // The after build serves the page: load it once, so the static middleware is loaded as in real use.
  const page = await fetch(`http://127.0.0.1:${targets[1]!.gateway.port}/`);
  if (page.status !== 200) throw new Error(`GET / answered ${page.status} on this build`);
  await page.arrayBuffer();

  const samples = new Map<string, Result[]>();
  // Worker CPU per request: unlike req/s, barely moved by other work on the machine.
  const cpuPerRequest = new Map<string, number[]>();
  for (const endpoint of ['GET /health', 'GET /api/cron'] as const) {
    for (const target of targets) await run(target.gateway.port, endpoint);
    for (let round = 0; round < ROUNDS; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        const lock = target.gateway.lock()!;
        await waitForIdle([lock.pid, lock.workerPid!], { timeoutMs: 60_000 });
        const cpuBefore = cpuMs(lock.workerPid!);
        const result = await run(target.gateway.port, endpoint);
        const cpuUs = ((cpuMs(lock.workerPid!) - cpuBefore) * 1000) / Math.max(1, result.requests.total);
        const key = `${endpoint}|${target.name}`;
        samples.set(key, [...(samples.get(key) ?? []), result]);
        cpuPerRequest.set(key, [...(cpuPerRequest.get(key) ?? []), cpuUs]);
      }
    }
  }

  console.log(`autocannon, ${CONNECTIONS} connections, keep-alive, ${DURATION_S} s per run, ${ROUNDS} rounds, alternating; medians over rounds\n`);
  const rows: Array<Array<string | number>> = [];
  for (const endpoint of ['GET /health', 'GET /api/cron'] as const) {
    const base = median(samples.get(`${endpoint}|before (no page)`)!.map((r) => r.requests.average));
    const baseCpu = median(cpuPerRequest.get(`${endpoint}|before (no page)`)!);
    for (const target of targets) {
      const s = samples.get(`${endpoint}|${target.name}`)!;
      const rps = median(s.map((r) => r.requests.average));
      const cpu = median(cpuPerRequest.get(`${endpoint}|${target.name}`)!);
      const before = target.name.startsWith('before');
      rows.push([endpoint, target.name, fmt(rps, 0), before ? '1.00' : `**${fmt(rps / base, 2)}**`, fmt(median(s.map((r) => r.latency.p99)), 0), fmt(cpu, 1), before ? '1.00' : `**${fmt(cpu / baseCpu, 2)}**`, s.reduce((n, r) => n + r.errors + r.non2xx, 0)]);
    }
  }
  console.log(table(['route', 'build', 'req/s (median)', 'vs before', 'p99 ms', 'worker CPU us/request (median)', 'vs before', 'errors + non-2xx'], rows));
  console.log('\nWorker CPU per request = the worker\'s user+system CPU time (/proc, 10 ms ticks) during the run / requests answered.');
}

await runBench('Page serving cost: /health and API throughput before and after', 20 * 60_000, main);
