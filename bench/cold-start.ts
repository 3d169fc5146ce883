/**
 * Benchmark 4, cold start: from running `xopc gateway` to the first 200 on /health, and
 * from running `xopc gateway stop` to the gateway's exit. The references, started and
 * timed the same way in the same run: a bare `node:http` server (Node's own floor) and
 * the bare Koa app of benchmark 1.
 *
 *   npm run bench:cold-start [-- --runs=10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, childEnv, removeHome, tempHome } from '../test/helpers/gateway.js';
import { freePort } from '../test/helpers/net.js';
import { BARE_KOA } from './lib/reference.js';
import { numberArg, onCleanup, quick, runBench } from './lib/run.js';
import { fmt, summarize, table } from './lib/stats.js';

const RUNS = numberArg('runs', quick() ? 3 : 10);
const TOKEN = 'bench-token-0123456789abcdef';
const FIRST_200_TIMEOUT_MS = 10_000;

/** Polls GET /health on a fresh connection every 2 ms until it answers 200; resolves with performance.now() then. */
async function first200(port: number, deadline: number): Promise<number> {
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200) return performance.now();
    if (performance.now() > deadline) throw new Error(`no 200 on port ${port} within ${FIRST_200_TIMEOUT_MS} ms`);
    await sleep(2);
  }
}

function track(proc: ChildProcess): () => void {
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  onCleanup(kill);
  return kill;
}

/** Spawns a server command and times it to its first 200; the process is left running. */
async function timeStart(args: string[], env: NodeJS.ProcessEnv, port: number): Promise<{ proc: ChildProcess; ms: number }> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  track(proc);
  const exited = once(proc, 'exit').then(([code]) => {
    throw new Error(`${args.join(' ')} exited with ${code} before answering`);
  });
  const t1 = await Promise.race([first200(port, t0 + FIRST_200_TIMEOUT_MS), exited]);
  return { proc, ms: t1 - t0 };
}

async function main(): Promise<void> {
  const home = tempHome('xopc-bench-cold-');
  onCleanup(() => removeHome(home));
  const configPath = join(home, 'config.json');
  // A config with a token: the steady case (the very first start also generates and saves one).
  writeFileSync(configPath, JSON.stringify({ gateway: { auth: { token: TOKEN } } }), { mode: 0o600 });
  const env = childEnv(home);

  const samples = { gateway: [] as number[], stopCli: [] as number[], stopExit: [] as number[], sigterm: [] as number[], node: [] as number[], koa: [] as number[] };
  // Warm the page cache so the first measured run is not the one that reads node_modules from disk.
  for (const args of [[CLI, '--help'], [BARE_KOA, TOKEN, '1']]) {
    const warm = spawn(process.execPath, args, { stdio: 'ignore' });
    setTimeout(() => warm.kill('SIGKILL'), 2000).unref();
    await once(warm, 'exit');
  }

  for (let run = 0; run < RUNS; run++) {
    // Interleaved: gateway, node:http, Koa, so machine drift hits all alike.
    let port = await freePort();
    const gateway = await timeStart([CLI, 'gateway', '--port', String(port), '--host', '127.0.0.1'], env, port);
    samples.gateway.push(gateway.ms);
    const gatewayExit = once(gateway.proc, 'exit');
    if (run % 2 === 0) {
      // `xopc gateway stop`: the command's own run time, and when the gateway was gone.
      const t0 = performance.now();
      const stop = spawn(process.execPath, [CLI, 'gateway', 'stop'], { env, stdio: 'ignore' });
      track(stop);
      const stopExit = once(stop, 'exit').then(([code]) => ({ code: code as number, at: performance.now() }));
      const [{ code, at }] = await Promise.all([stopExit, gatewayExit]);
      if (code !== 0) throw new Error(`xopc gateway stop exited ${code}`);
      samples.stopCli.push(at - t0);
      samples.stopExit.push(performance.now() - t0);
    } else {
      const t0 = performance.now();
      gateway.proc.kill('SIGTERM');
      await gatewayExit;
      samples.sigterm.push(performance.now() - t0);
    }

    port = await freePort();
    const node = await timeStart(['-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`], env, port);
    samples.node.push(node.ms);
    node.proc.kill('SIGKILL');
    await once(node.proc, 'exit');

    port = await freePort();
    const koa = await timeStart([BARE_KOA, TOKEN, String(port)], env, port);
    samples.koa.push(koa.ms);
    koa.proc.kill('SIGKILL');
    await once(koa.proc, 'exit');
  }

  const row = (what: string, values: number[], target = '') => {
    const s = summarize(values);
    return [what, s.n, fmt(s.p50), fmt(s.p95), fmt(s.max), target];
  };
  const g = summarize(samples.gateway).p50;
  console.log(`${RUNS} runs each, interleaved; ms\n`);
  console.log(table(['what', 'runs', 'median', 'p95', 'max', 'target'], [
    row('`xopc gateway` -> first 200 on /health', samples.gateway, '< 500'),
    row('bare node:http server -> first 200', samples.node),
    row('bare Koa app -> first 200', samples.koa),
    row('`xopc gateway stop` -> command exits', samples.stopCli),
    row('`xopc gateway stop` -> gateway exited', samples.stopExit),
    row('SIGTERM -> gateway exited', samples.sigterm),
  ]));
  console.log(`\ngateway start / bare Koa start: ${fmt(g / summarize(samples.koa).p50, 2)}x; gateway start - node floor: ${fmt(g - summarize(samples.node).p50)} ms`);
}

await runBench('cold start', 5 * 60_000, main);
