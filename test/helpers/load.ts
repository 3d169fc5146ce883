import http from 'node:http';

export interface LoadResult {
  ok: number;
  failed: number;
  /** Failure kinds (error codes or HTTP statuses) and how often each happened. */
  errors: Record<string, number>;
}

export interface LoadOptions {
  port: number;
  path?: string;
  clients: number;
  keepAlive: boolean;
  headers?: Record<string, string>;
  /** Stop once this settles (or at `maxMs` / `maxRequests`, whichever comes first). */
  until: Promise<unknown>;
  maxMs: number;
  maxRequests?: number;
}

/** `clients` loops of GET requests over real sockets until told to stop; bounded in time and count. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: options.keepAlive, maxSockets: options.clients });
  const result: LoadResult = { ok: 0, failed: 0, errors: {} };
  let stop = false;
  void options.until.finally(() => (stop = true));
  const timer = setTimeout(() => (stop = true), options.maxMs);
  const maxRequests = options.maxRequests ?? 200_000;

  const once = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: options.port, path: options.path ?? '/health', agent, headers: options.headers, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) result.ok++;
          else fail(`HTTP ${res.statusCode}`);
          resolve();
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          fail(err.code ?? err.message);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        fail(err.code ?? err.message);
        resolve();
      });
    });
  const fail = (kind: string) => {
    result.failed++;
    result.errors[kind] = (result.errors[kind] ?? 0) + 1;
  };

  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (!stop && result.ok + result.failed < maxRequests) await once();
    }),
  );
  clearTimeout(timer);
  agent.destroy();
  return result;
}
