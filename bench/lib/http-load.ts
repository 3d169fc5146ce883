import http from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * A closed-loop HTTP load generator that accounts for every request. autocannon (used for
 * throughput) reconnects silently when the server closes a connection with a request in
 * flight (lib/httpClient.js, the socket's 'end' handler), so a request lost that way is
 * not counted as an error; for restart and crash benchmarks, where failures are the
 * result, each request here ends as a 2xx, an HTTP status or a named socket error.
 */

export interface LoadOptions {
  port: number;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  clients: number;
  keepAlive: boolean;
  /** Hard bounds: the load stops at whichever comes first (or at stop()). */
  maxMs: number;
  maxRequests: number;
  /** Per-request timeout (counted as TIMEOUT). */
  timeoutMs?: number;
}

export interface LoadResult {
  ok: number;
  failed: number;
  /** Failure kinds (socket error codes, `HTTP <status>`, TIMEOUT) and how often each happened. */
  errors: Record<string, number>;
  /** Per request, in completion order: start (performance.now() ms), latency ms, success. */
  starts: Float64Array;
  latencies: Float64Array;
  success: Uint8Array;
  count: number;
  durationMs: number;
}

export interface Load {
  /** Requests sent whose response has not ended yet. */
  inFlight(): number;
  /** Completed requests so far (ok, failed). */
  progress(): { ok: number; failed: number };
  /** Stops sending and resolves once every request in flight has ended. */
  stop(): Promise<LoadResult>;
}

export function startLoad(options: LoadOptions): Load {
  const agent = new http.Agent({ keepAlive: options.keepAlive, maxSockets: options.clients });
  const capacity = options.maxRequests;
  const starts = new Float64Array(capacity);
  const latencies = new Float64Array(capacity);
  const success = new Uint8Array(capacity);
  const errors: Record<string, number> = {};
  let count = 0;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let inFlight = 0;
  let stopped = false;
  const began = performance.now();
  const timer = setTimeout(() => (stopped = true), options.maxMs);

  const record = (start: number, good: boolean, kind?: string) => {
    inFlight--;
    if (good) ok++;
    else {
      failed++;
      errors[kind!] = (errors[kind!] ?? 0) + 1;
    }
    if (count < capacity) {
      starts[count] = start;
      latencies[count] = performance.now() - start;
      success[count] = good ? 1 : 0;
      count++;
    }
  };

  const once = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      inFlight++;
      sent++;
      let done = false;
      const finish = (good: boolean, kind?: string) => {
        if (done) return;
        done = true;
        record(start, good, kind);
        resolve();
      };
      const req = http.request(
        { host: '127.0.0.1', port: options.port, path: options.path ?? '/health', method: options.method ?? 'GET', agent, headers: options.headers, timeout: options.timeoutMs ?? 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => finish(res.statusCode! >= 200 && res.statusCode! < 300, `HTTP ${res.statusCode}`));
          res.on('error', (err: NodeJS.ErrnoException) => finish(false, errorKind(err)));
          res.on('close', () => finish(false, 'RESPONSE_CUT'));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => finish(false, errorKind(err)));
      req.end(options.body);
    });

  const loops = Array.from({ length: options.clients }, async () => {
    while (!stopped && sent < capacity) await once();
  });

  return {
    inFlight: () => inFlight,
    progress: () => ({ ok, failed }),
    async stop() {
      stopped = true;
      await Promise.all(loops);
      clearTimeout(timer);
      agent.destroy();
      return { ok, failed, errors, starts, latencies, success, count, durationMs: performance.now() - began };
    },
  };
}

function errorKind(err: NodeJS.ErrnoException): string {
  if (err.message === 'socket hang up') return 'socket hang up';
  return err.code ?? err.message;
}

/** Latencies (ms) of the requests that were in progress at some point of one of the windows [from, to] (performance.now() ms). */
export function latenciesDuring(result: LoadResult, windows: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (let i = 0; i < result.count; i++) {
    const start = result.starts[i]!;
    const end = start + result.latencies[i]!;
    if (windows.some(([from, to]) => start <= to && end >= from)) out.push(result.latencies[i]!);
  }
  return out;
}

/** Latencies (ms) of every completed request. */
export function allLatencies(result: LoadResult): number[] {
  return Array.from(result.latencies.subarray(0, result.count));
}
