/**
 * Benchmark 5, memory: resident set size (VmRSS) of the supervisor and of an idle worker,
 * right after start and after 10,000 /health requests, against the same numbers for an
 * empty Node process and the bare Koa app of benchmark 1 started the same way.
 *
 *   npm run bench:memory [-- --runs=3]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchGateway } from './lib/gateway.js';
import { startLoad } from './lib/http-load.js';
import { rssMb } from './lib/processes.js';
import { startBareKoa } from './lib/reference.js';
import { numberArg, onCleanup, quick, runBench } from './lib/run.js';
import { fmt, median, table } from './lib/stats.js';

const RUNS = numberArg('runs', quick() ? 1 : 3);
const SETTLE_MS = 2000;
const LOAD_REQUESTS = quick() ? 2000 : 10_000;

async function hammer(port: number): Promise<void> {
  const load = startLoad({ port, clients: 8, keepAlive: true, maxMs: 60_000, maxRequests: LOAD_REQUESTS });
  while (load.progress().ok + load.progress().failed < LOAD_REQUESTS && load.inFlight() > 0) await sleep(50);
  const result = await load.stop();
  if (result.failed > 0) throw new Error(`load failed: ${JSON.stringify(result.errors)}`);
}

async function main(): Promise<void> {
  const rows: Record<string, number[]> = { supervisor: [], workerIdle: [], workerLoaded: [], node: [], koaIdle: [], koaLoaded: [] };
  for (let run = 0; run < RUNS; run++) {
    const gateway = await benchGateway({ config: { logging: { level: 'info' } } });
    const { pid, workerPid } = gateway.lock()!;
    await sleep(SETTLE_MS);
    rows.supervisor!.push(rssMb(pid));
    rows.workerIdle!.push(rssMb(workerPid!));
    await hammer(gateway.port);
    await sleep(SETTLE_MS);
    rows.workerLoaded!.push(rssMb(workerPid!));
    // After the load the supervisor has copied 10,000 request-log lines to the log file.
    rows.supervisorLoaded ??= [];
    rows.supervisorLoaded.push(rssMb(pid));
    await gateway.dispose();

    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    onCleanup(() => idle.kill('SIGKILL'));
    await sleep(SETTLE_MS);
    rows.node!.push(rssMb(idle.pid!));
    idle.kill('SIGKILL');
    await once(idle, 'exit');

    const koa = await startBareKoa('bench-token-0123456789abcdef');
    await sleep(SETTLE_MS);
    rows.koaIdle!.push(rssMb(koa.pid));
    await hammer(koa.port);
    await sleep(SETTLE_MS);
    rows.koaLoaded!.push(rssMb(koa.pid));
    await koa.stop();
  }
  const row = (what: string, key: string, target = '') => [what, fmt(median(rows[key]!)), rows[key]!.map((v) => fmt(v)).join(', '), target];
  console.log(`RSS in MB, median of ${RUNS} run(s), ${SETTLE_MS} ms after start / after ${LOAD_REQUESTS} GET /health (8 keep-alive clients)\n`);
  console.log(table(['process', 'median MB', 'runs', 'target'], [
    row('supervisor, idle', 'supervisor', '< 50'),
    row(`supervisor, after ${LOAD_REQUESTS} requests`, 'supervisorLoaded', '< 50'),
    row('worker, idle', 'workerIdle'),
    row(`worker, after ${LOAD_REQUESTS} requests`, 'workerLoaded'),
    row('reference: empty node process', 'node'),
    row('reference: bare Koa app, idle', 'koaIdle'),
    row(`reference: bare Koa app, after ${LOAD_REQUESTS} requests`, 'koaLoaded'),
  ]));
}

await runBench('memory', 5 * 60_000, main);
