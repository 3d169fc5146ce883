/**
 * Benchmark 3, worker crash under load: kill -9 of the worker while 16 clients loop on
 * GET /health (keep-alive on and off). Per kill: connections refused (target 0), requests
 * failed against requests in flight at the kill (only those may fail), and the time from
 * the kill to the first 200 of a request sent right after it (target p95 < 500 ms), and
 * to the first 200 of an authenticated API request (GET /api/sessions) sent once /health
 * answered: the body parser and some routes load on first use, after the worker is ready.
 *
 * The supervisor gives up after 5 crashes in 60 s (SPEC 3) and backs off 100, 200, 400,
 * 800 ms between consecutive crashes (reset after a healthy minute). So the 20 measured
 * kills are isolated crashes, the first in their window: each on a fresh gateway, which is
 * the state a long-running gateway is in a minute after its last crash. A burst of 4 kills
 * in a row on one gateway is measured separately, to show the backoff.
 *
 * With --standby=off,on each setting runs without and with gateway.worker.standby: with it,
 * a loaded standby waits beside the serving worker and takes over at once (the kill is made
 * once the lock names a standby); its resident memory while it waits is its cost.
 *
 *   npm run bench:crash [-- --kills=20 --burst=4 --keepalive=on,off --standby=off]   (--burst=0: no burst)
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchGateway } from './lib/gateway.js';
import { startLoad } from './lib/http-load.js';
import { rssMb } from './lib/processes.js';
import { numberArg, quick, runBench, stringArg } from './lib/run.js';
import { fmt, median, summarize, table } from './lib/stats.js';
import type { Gateway } from '../test/helpers/gateway.js';

const KILLS = numberArg('kills', quick() ? 3 : 20);
const BURST = numberArg('burst', quick() ? 2 : 4);
const CLIENTS = numberArg('clients', 16);
const KEEP_ALIVE = stringArg('keepalive', 'on,off').split(',').map((v) => v === 'on');
const STANDBY = stringArg('standby', 'off').split(',').map((v) => v === 'on');
const STANDBY_WAIT_MS = 30_000;
const STEADY_MS = 1000;
const BURST_GAP_MS = 1000;

interface Kill {
  serveAgainMs: number;
  apiAgainMs: number;
  inFlight: number;
  /** RSS (MB) of the standby waiting at the kill and of the worker killed; NaN without a standby. */
  standbyRssMb: number;
  workerRssMb: number;
}

/** GET `path` on a new connection, sent now; resolves with the ms from `t0` until its 200 (or throws). */
function probe(port: number, path = '/health', headers: http.OutgoingHttpHeaders = {}, t0 = performance.now()): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 15_000 }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`probe got ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

/** Waits (bounded) until the lock names a loaded standby; its pid, or null when none came. */
async function waitForStandby(gateway: Gateway): Promise<number | null> {
  const deadline = Date.now() + STANDBY_WAIT_MS;
  while (Date.now() < deadline) {
    const pid = (gateway.lock() as { standbyPid?: number | null } | null)?.standbyPid;
    if (pid) return pid;
    await sleep(50);
  }
  return null;
}

async function killWorker(gateway: Gateway): Promise<Kill> {
  const { workerPid, standbyPid } = gateway.lock() as { workerPid: number; standbyPid?: number | null };
  const standbyRssMb = standbyPid ? rssMb(standbyPid) : Number.NaN;
  const workerRssMb = rssMb(workerPid!);
  const killedAt = performance.now();
  process.kill(workerPid!, 'SIGKILL');
  const serveAgainMs = await probe(gateway.port, '/health', {}, killedAt);
  const apiAgainMs = await probe(gateway.port, '/api/sessions', { authorization: `Bearer ${gateway.token}` }, killedAt);
  await gateway.waitForServing({ exceptWorkerPid: workerPid!, timeoutMs: 15_000 });
  return { serveAgainMs, apiAgainMs, inFlight: 0, standbyRssMb, workerRssMb };
}

interface Series {
  kills: Kill[];
  ok: number;
  failed: number;
  errors: Record<string, number>;
}

/** `count` kills on one gateway under load, `gapMs` apart. */
async function underLoad(count: number, keepAlive: boolean, gapMs: number, standby: boolean): Promise<Series> {
  const gateway = await benchGateway({ config: { logging: { level: 'info' }, gateway: { worker: { standby } } } });
  try {
    // The standby loads before the load starts, as it would on a gateway that has run a while.
    if (standby) await waitForStandby(gateway);
    const load = startLoad({ port: gateway.port, clients: CLIENTS, keepAlive, maxMs: 3 * 60_000, maxRequests: 2_000_000 });
    await sleep(STEADY_MS);
    const kills: Kill[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(gapMs);
      const inFlight = load.inFlight();
      const kill = await killWorker(gateway);
      kills.push({ ...kill, inFlight });
    }
    await sleep(STEADY_MS);
    const result = await load.stop();
    return { kills, ok: result.ok, failed: result.failed, errors: result.errors };
  } finally {
    await gateway.dispose();
  }
}

function merge(series: Series[]): Series {
  const errors: Record<string, number> = {};
  for (const s of series) for (const [k, n] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + n;
  return { kills: series.flatMap((s) => s.kills), ok: series.reduce((n, s) => n + s.ok, 0), failed: series.reduce((n, s) => n + s.failed, 0), errors };
}

async function main(): Promise<void> {
  console.log(`${CLIENTS} clients looping on GET /health; ${KILLS} isolated kills per setting, plus a burst of ${BURST} kills ${BURST_GAP_MS} ms apart\n`);
  const rows: Array<Array<string | number>> = [];
  const burstRows: Array<Array<string | number>> = [];
  for (const keepAlive of KEEP_ALIVE) {
    for (const standby of STANDBY) {
      const label = standby ? 'on' : 'off';
      const isolated: Series[] = [];
      for (let k = 0; k < KILLS; k++) isolated.push(await underLoad(1, keepAlive, 0, standby));
      const all = merge(isolated);
      const s = summarize(all.kills.map((k) => k.serveAgainMs));
      const api = summarize(all.kills.map((k) => k.apiAgainMs));
      const inFlight = all.kills.reduce((n, k) => n + k.inFlight, 0);
      const refused = all.errors.ECONNREFUSED ?? 0;
      const standbyRss = median(all.kills.map((k) => k.standbyRssMb));
      const workerRss = median(all.kills.map((k) => k.workerRssMb));
      rows.push([label, keepAlive ? 'on' : 'off', all.kills.length, all.ok + all.failed, `**${refused}**`, `${all.failed}${all.failed ? ` (${Object.entries(all.errors).map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`, inFlight, fmt(s.p50, 0), fmt(s.p95, 0), fmt(s.max, 0), `${fmt(api.p50, 0)} / ${fmt(api.p95, 0)}`, fmt(workerRss, 0), standby ? fmt(standbyRss, 0) : '-']);
      console.log(`  standby ${label}, keep-alive ${keepAlive ? 'on' : 'off'}: ${refused} refused, ${all.failed} failed (${inFlight} in flight at the kills), serving again p50 ${fmt(s.p50, 0)} / p95 ${fmt(s.p95, 0)} ms; API p50 ${fmt(api.p50, 0)} / p95 ${fmt(api.p95, 0)} ms; standby RSS ${fmt(standbyRss, 0)} MB`);

      if (BURST < 1) continue;
      const burst = await underLoad(BURST, keepAlive, BURST_GAP_MS, standby);
      burstRows.push([label, keepAlive ? 'on' : 'off', burst.kills.map((k) => fmt(k.serveAgainMs, 0)).join(', '), burst.failed, burst.kills.reduce((n, k) => n + k.inFlight, 0), burst.errors.ECONNREFUSED ?? 0]);
    }
  }
  console.log('');
  console.log(table(['standby', 'keep-alive', 'kills', 'requests', 'refused (target 0)', 'failed', 'in flight at the kills', 'serving again p50 ms', 'p95 ms (target < 500)', 'max ms', 'first API 200 p50 / p95 ms', 'serving worker RSS MB', 'idle standby RSS MB'], rows));
  if (burstRows.length === 0) return;
  console.log(`\nBurst: ${BURST} kills in a row on one gateway (the supervisor backs off 100, 200, 400, 800 ms; a 5th crash within 60 s makes it give up; a standby is promoted without the pause when one is loaded)\n`);
  console.log(table(['standby', 'keep-alive', 'serving again after each kill, ms', 'failed', 'in flight at the kills', 'refused'], burstRows));
}

await runBench('worker crash under load', 20 * 60_000, main);
