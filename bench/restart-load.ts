/**
 * Benchmark 2, restarts under load: 20 SIGUSR1 restarts of a real gateway, in-process
 * (XOPC_NO_RESPAWN=1) and respawn mode, with 16 and 64 concurrent clients, keep-alive on
 * and off, while the clients loop on GET /health. Reports failed requests (target 0),
 * p99 latency of the requests in progress during a restart (from SIGUSR1 until the new
 * worker serves) against p99 before the first restart, and how long a restart took.
 *
 * With --before=DIR[,DIR...] (built checkouts of other versions), every row runs on each
 * of those builds and this one, the order reversed from run to run, so that drift in the
 * machine's load hits all alike.
 *
 *   npm run bench:restart [-- --restarts=20 --runs=1 --clients=16,64 --modes=in-process --keepalive=on --before=DIR]
 */
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchGateway } from './lib/gateway.js';
import { latenciesDuring, startLoad, type LoadResult } from './lib/http-load.js';
import { numberArg, quick, runBench, stringArg } from './lib/run.js';
import { fmt, median, summarize, table } from './lib/stats.js';

const RESTARTS = numberArg('restarts', quick() ? 3 : 20);
const RUNS = numberArg('runs', 1);
const CLIENTS = stringArg('clients', quick() ? '16' : '16,64').split(',').map(Number);
const MODES = stringArg('modes', 'in-process,respawn').split(',') as Array<'in-process' | 'respawn'>;
const KEEP_ALIVE = stringArg('keepalive', 'on,off').split(',').map((v) => v === 'on');
const STEADY_MS = 1500;
// Between restarts: the next SIGUSR1 comes this long after the new worker serves.
const GAP_MS = 200;
const RESTART_TIMEOUT_MS = 20_000;
const BEFORE = stringArg('before', '');
// Each named by its folder's name.
const BUILDS: Array<{ name: string; cli?: string }> = [...(BEFORE ? BEFORE.split(',').map((dir) => ({ name: basename(resolve(dir)), cli: join(resolve(dir), 'dist/src/cli.js') })) : []), { name: 'this build' }];

interface Outcome {
  load: LoadResult;
  restartMs: number[];
  windows: Array<[number, number]>;
  steadyEnd: number;
}

async function runOnce(mode: 'in-process' | 'respawn', clients: number, keepAlive: boolean, cli?: string): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = { XOPC_ALLOW_SIGUSR1_RESTART: '1', ...(mode === 'in-process' ? { XOPC_NO_RESPAWN: '1' } : {}) };
  const gateway = await benchGateway({ env, config: { logging: { level: 'info' } }, cli });
  try {
    const load = startLoad({ port: gateway.port, clients, keepAlive, maxMs: 5 * 60_000, maxRequests: 3_000_000 });
    await sleep(STEADY_MS);
    const steadyEnd = performance.now();
    const windows: Array<[number, number]> = [];
    const restartMs: number[] = [];
    for (let i = 0; i < RESTARTS; i++) {
      const before = gateway.lock()!;
      const t0 = performance.now();
      process.kill(before.pid, 'SIGUSR1');
      await gateway.waitForServing({ exceptWorkerPid: before.workerPid!, ...(mode === 'respawn' ? { exceptPid: before.pid } : {}), timeoutMs: RESTART_TIMEOUT_MS });
      const t1 = performance.now();
      windows.push([t0, t1]);
      restartMs.push(t1 - t0);
      await sleep(GAP_MS);
    }
    await sleep(STEADY_MS);
    return { load: await load.stop(), restartMs, windows, steadyEnd };
  } finally {
    await gateway.dispose();
  }
}

async function main(): Promise<void> {
  console.log(`${RESTARTS} restarts per run, ${RUNS} run(s) per row, load: closed-loop GET /health; ${GAP_MS} ms between restarts\n`);
  const rows: Array<Array<string | number>> = [];
  for (const mode of MODES) {
    for (const clients of CLIENTS) {
      for (const keepAlive of KEEP_ALIVE) {
        const outcomesOf = new Map<string, Outcome[]>(BUILDS.map((build) => [build.name, []]));
        for (let run = 0; run < RUNS; run++) {
          const order = run % 2 === 0 ? BUILDS : [...BUILDS].reverse();
          for (const build of order) outcomesOf.get(build.name)!.push(await runOnce(mode, clients, keepAlive, build.cli));
        }
        for (const build of BUILDS) {
          const outcomes = outcomesOf.get(build.name)!;
          const failed = outcomes.reduce((n, o) => n + o.load.failed, 0);
          const total = outcomes.reduce((n, o) => n + o.load.ok + o.load.failed, 0);
          const errors: Record<string, number> = {};
          for (const o of outcomes) for (const [kind, n] of Object.entries(o.load.errors)) errors[kind] = (errors[kind] ?? 0) + n;
          const p99During = median(outcomes.map((o) => summarize(latenciesDuring(o.load, o.windows)).p99));
          const p99Steady = median(outcomes.map((o) => summarize(latenciesDuring(o.load, [[0, o.steadyEnd]])).p99));
          const maxDuring = Math.max(...outcomes.map((o) => summarize(latenciesDuring(o.load, o.windows)).max));
          const restart = median(outcomes.flatMap((o) => o.restartMs));
          const rps = median(outcomes.map((o) => (o.load.ok / o.load.durationMs) * 1000));
          rows.push([...(BEFORE ? [build.name] : []), mode, clients, keepAlive ? 'on' : 'off', RESTARTS * RUNS, total, `**${failed}**${failed ? ` (${Object.entries(errors).map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`, fmt(p99Steady), fmt(p99During), fmt(maxDuring), fmt(restart, 0), fmt(rps, 0)]);
          console.log(`  ${BEFORE ? `${build.name}, ` : ''}${mode}, ${clients} clients, keep-alive ${keepAlive ? 'on' : 'off'}: ${failed} failed of ${total}; p99 ${fmt(p99Steady)} -> ${fmt(p99During)} ms during restarts`);
        }
      }
    }
  }
  console.log('');
  console.log(table([...(BEFORE ? ['build'] : []), 'mode', 'clients', 'keep-alive', 'restarts', 'requests', 'failed (target 0)', 'p99 ms before', 'p99 ms during restart', 'max ms during', 'restart ms (median)', 'req/s'], rows));
}

await runBench('restarts under load', 30 * 60_000, main);
