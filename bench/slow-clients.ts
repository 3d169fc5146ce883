/**
 * Slow and greedy clients against a real gateway with its default bounds: one address
 * opens many idle sockets, many that trickle their headers and many that trickle a body
 * (one byte a second), while a well-behaved client on another loopback address keeps
 * asking GET /health. Reports per kind how many sockets the gateway accepted (the rest
 * were closed at once by the per-address cap), how long the longest-held one lived, and
 * the well-behaved client's answers and latency during the attack.
 *
 *   npm run bench:slow-clients [-- --sockets=500]   (Linux: uses 127.0.0.2 as the second address)
 */
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchGateway } from './lib/gateway.js';
import { numberArg, quick, runBench } from './lib/run.js';
import { fmt, summarize, table } from './lib/stats.js';

const SOCKETS = numberArg('sockets', quick() ? 100 : 500);
// Past every default bound (headers 10 s, request 30 s, idle 5 s): whatever lives this long was not cut.
const GIVE_UP_MS = numberArg('give-up-ms', 60_000);
const TRICKLE_MS = 1000;

type Kind = 'idle' | 'slow headers' | 'slow body';

interface Outcome {
  kind: Kind;
  accepted: number;
  refused: number;
  longestMs: number;
  notCut: number;
}

/** Opens `count` sockets of one kind from 127.0.0.1; resolves once every one is closed (or given up on). */
async function attack(port: number, kind: Kind, count: number, token: string): Promise<Outcome> {
  const lifetimes: number[] = [];
  let refused = 0;
  let notCut = 0;
  await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve) => {
    const opened = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    let gotData = false;
    socket.on('data', () => (gotData = true));
    socket.on('error', () => {});
    const giveUp = setTimeout(() => {
      notCut++;
      socket.destroy();
    }, GIVE_UP_MS);
    socket.on('connect', () => {
      if (kind === 'slow headers') socket.write('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      if (kind === 'slow body') socket.write(`POST /api/message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
      if (kind !== 'idle') timer = setInterval(() => socket.write('a'), TRICKLE_MS);
    });
    socket.on('close', () => {
      clearTimeout(giveUp);
      clearInterval(timer);
      const lived = performance.now() - opened;
      // Closed without a byte: refused by a connection cap (a socket cut by a timeout gets a 400 first).
      if (!gotData) refused++;
      else lifetimes.push(lived);
      resolve();
    });
  })));
  return { kind, accepted: lifetimes.length, refused, longestMs: Math.max(0, ...lifetimes), notCut };
}

/** GET /health from 127.0.0.2 every 100 ms until `until` settles; latencies and failures. */
async function wellBehaved(port: number, until: Promise<unknown>): Promise<{ ok: number; failed: number; latencies: number[] }> {
  let done = false;
  void until.finally(() => (done = true));
  const latencies: number[] = [];
  let failed = 0;
  while (!done) {
    const t0 = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/health', localAddress: '127.0.0.2', agent: false, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
    if (ok) latencies.push(performance.now() - t0);
    else failed++;
    await sleep(100);
  }
  return { ok: latencies.length, failed, latencies };
}

await runBench('slow and greedy clients', GIVE_UP_MS * 4, async () => {
  const gateway = await benchGateway({ asService: true });
  const rows: Array<Array<string | number>> = [];
  for (const kind of ['idle', 'slow headers', 'slow body'] as const) {
    const run = attack(gateway.port, kind, SOCKETS, gateway.token);
    const probe = await wellBehaved(gateway.port, run);
    const outcome = await run;
    const latency = summarize(probe.latencies);
    rows.push([kind, SOCKETS, outcome.accepted, outcome.refused, fmt(outcome.longestMs / 1000), outcome.notCut, `${probe.ok} / ${probe.failed}`, fmt(latency.p50), fmt(latency.p99)]);
  }
  console.log(`${SOCKETS} sockets of each kind from 127.0.0.1; a well-behaved client on 127.0.0.2 asks GET /health every 100 ms meanwhile\n`);
  console.log(table(['kind', 'opened', 'accepted', 'refused at once', 'longest held s', `alive after ${GIVE_UP_MS / 1000} s`, 'other client ok / failed', 'its p50 ms', 'its p99 ms'], rows));
});
