/**
 * Benchmark 6, logs on a 1 GB log file: `xopc gateway logs --lines 100` (a whole CLI
 * process, start to exit) and `GET /api/logs?lines=100` on a running gateway, against
 * `tail -n 100` on the same file in the same run. Filtered reads that must scan far back
 * (a rare level, a string that is not there) are shown too, as the worst case.
 *
 *   npm run bench:logs [-- --runs=15 --size-mb=1024]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLI, childEnv, removeHome, tempHome } from '../test/helpers/gateway.js';
import { benchGateway } from './lib/gateway.js';
import { numberArg, onCleanup, quick, runBench } from './lib/run.js';
import { fmt, summarize, table } from './lib/stats.js';

const RUNS = numberArg('runs', quick() ? 3 : 15);
const SIZE_MB = numberArg('size-mb', quick() ? 64 : 1024);
// One error line in this many: `level=error&lines=100` then has to read most of the file.
const ERROR_EVERY = 50_000;

/** Writes `mb` MB of gateway-like JSON lines (request logs, times increasing) to `file`. */
function writeBigLog(file: string, mb: number): number {
  const fd = openSync(file, 'w', 0o600);
  const start = Date.now() - 24 * 3600_000;
  let line = 0;
  let written = 0;
  const target = mb * 1024 * 1024;
  while (written < target) {
    const parts: string[] = [];
    for (let i = 0; i < 4000; i++, line++) {
      const time = start + Math.floor(line / 50);
      parts.push(line % ERROR_EVERY === ERROR_EVERY - 1
        ? `{"level":50,"time":${time},"pid":4242,"proc":"worker","component":"http","err":{"type":"Error","message":"provider failed ${line}"},"method":"POST","path":"/api/agent","msg":"Request failed with an unexpected error; answered 500 INTERNAL_ERROR"}`
        : `{"level":30,"time":${time},"pid":4242,"proc":"worker","component":"http","method":"GET","path":"/api/sessions/main:webchat:u${line % 977}","status":200,"ms":${(line % 97) / 10},"remote":"127.0.0.1","msg":"Request completed"}`);
    }
    const chunk = `${parts.join('\n')}\n`;
    written += writeSync(fd, chunk);
  }
  closeSync(fd);
  return written;
}

async function timeProcess(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  proc.stdout.on('data', (d: Buffer) => (bytes += d.length));
  const [code] = await once(proc, 'exit');
  const ms = performance.now() - t0;
  if (code !== 0 || bytes === 0) throw new Error(`${command} ${args.join(' ')} exited ${code} with ${bytes} bytes`);
  return ms;
}

async function main(): Promise<void> {
  const home = tempHome('xopc-bench-logs-');
  onCleanup(() => removeHome(home));
  // Written while no gateway runs, then a gateway is started on it (it appends its own lines).
  const logDir = join(home, 'logs');
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  const file = join(logDir, 'gateway.log');
  const t0 = performance.now();
  const bytes = writeBigLog(file, SIZE_MB);
  console.log(`log file: ${(bytes / 1024 ** 3).toFixed(2)} GB written in ${((performance.now() - t0) / 1000).toFixed(1)} s (one error line in ${ERROR_EVERY})\n`);

  // logging.maxSizeBytes above the file's size: the big file stays the current log instead of being rotated away.
  const live = await benchGateway({ home, config: { gateway: { auth: { token: 'bench-token-0123456789abcdef' } }, logging: { level: 'info', maxSizeBytes: 4 * 1024 ** 3 } } });
  if (statSync(file).size < bytes) throw new Error('the gateway rotated the big log away; raise logging.maxSizeBytes');
  const env = childEnv(live.home);
  const api = (query: string) => async () => {
    const t = performance.now();
    const res = await fetch(live.url(`/api/logs?${query}`), { headers: { authorization: `Bearer ${live.token}` } });
    const body = (await res.json()) as { entries?: unknown[] };
    if (res.status !== 200 || !body.entries?.length) throw new Error(`/api/logs?${query}: ${res.status}`);
    return performance.now() - t;
  };
  const cases: Array<[string, () => Promise<number>, string]> = [
    ['`xopc gateway logs --lines 100` (pretty, whole process)', () => timeProcess(process.execPath, [CLI, 'gateway', 'logs', '--lines', '100'], env), '< 100'],
    ['`xopc gateway logs --lines 100 --json`', () => timeProcess(process.execPath, [CLI, 'gateway', 'logs', '--lines', '100', '--json'], env), '< 100'],
    ['reference: `tail -n 100` on the same file', () => timeProcess('tail', ['-n', '100', file], env), ''],
    ['reference: `node -e 0` (process start floor)', async () => {
      const t = performance.now();
      await once(spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }), 'exit');
      return performance.now() - t;
    }, ''],
    ['`GET /api/logs?lines=100`', api('lines=100'), '< 100'],
    ['`GET /api/logs?lines=5000`', api('lines=5000'), ''],
    ['`GET /api/logs?lines=100&level=error` (scans ~all)', api('lines=100&level=error'), ''],
  ];
  const samples = cases.map(() => [] as number[]);
  for (const [, run] of cases) await run(); // warm-up (page cache for the file's tail, JIT)
  for (let i = 0; i < RUNS; i++) {
    for (let c = 0; c < cases.length; c++) samples[c]!.push(await cases[c]![1]());
  }
  console.log(`${RUNS} runs each, interleaved; ms\n`);
  console.log(table(['what', 'median', 'p95', 'target'], [
    ...cases.map(([what, , target], c) => {
      const s = summarize(samples[c]!);
      return [what, fmt(s.p50), fmt(s.p95), target];
    }),
  ]));
  const full = await timeScan(live.url('/api/logs?lines=100&q=not-in-the-log'), live.token, Math.min(RUNS, 3));
  console.log(`\nworst case, a search that matches nothing (reads the whole ${SIZE_MB} MB): GET /api/logs?q=... median ${fmt(full)} ms`);
}

async function timeScan(url: string, token: string, runs: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    samples.push(performance.now() - t);
  }
  return summarize(samples).p50;
}

await runBench('logs', 10 * 60_000, main);
