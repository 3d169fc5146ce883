import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { controlRevealsToken, type ControlCommand, type ControlRequest, type ControlResponse } from '../src/control.js';
import type { Logger } from '../src/logger.js';

// A request is one short JSON line; anything longer is not ours.
const MAX_REQUEST_BYTES = 4096;
const REQUEST_TIMEOUT_MS = 5000;
// The same bound as gateway.drainTimeoutMs in the config.
const MAX_DRAIN_MS = 600_000;

export interface ControlServer {
  close(): void;
}

/** What runs a command; it gets the request, e.g. for `stop`'s drain bound. */
export type ControlHandlers = { [K in ControlCommand]: (request: Extract<ControlRequest, { cmd: K }>) => void };

/**
 * Listens on the control path (see src/control.ts) and runs `handlers[cmd]` for a request
 * that carries the right token, or answers a `token` request. The answer is sent before
 * the command takes effect.
 */
export async function startControlServer(path: string, token: () => string | null, handlers: ControlHandlers, logger: Logger): Promise<ControlServer> {
  const log = logger.child({ component: 'control' });
  if (process.platform !== 'win32') {
    // We hold the gateway lock, so a socket file left here is a dead gateway's.
    try {
      unlinkSync(path);
    } catch {
      /* none */
    }
  }
  const server = net.createServer((socket) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.length > MAX_REQUEST_BYTES) return answer({ ok: false, error: 'request too large' });
      const end = data.indexOf('\n');
      if (end === -1) return;
      let request: Record<string, unknown>;
      try {
        request = JSON.parse(data.slice(0, end)) as Record<string, unknown>;
      } catch {
        return answer({ ok: false, error: 'malformed request' });
      }
      const expected = token();
      if (request.cmd === 'token') {
        if (!controlRevealsToken()) return answer({ ok: false, error: 'the token is not given out on this platform' });
        if (!expected) return answer({ ok: false, error: 'no token' });
        log.debug('control request: token');
        return answer({ ok: true, token: expected });
      }
      if (!expected || typeof request.token !== 'string' || !sameSecret(request.token, expected)) {
        log.warn('control request with a wrong token refused');
        return answer({ ok: false, error: 'wrong token' });
      }
      const cmd = request.cmd;
      if (cmd !== 'stop' && cmd !== 'restart') return answer({ ok: false, error: `unknown command ${JSON.stringify(cmd)}` });
      let drainMs: number | undefined;
      if (cmd === 'stop' && request.drainMs !== undefined) {
        drainMs = Number(request.drainMs);
        if (!Number.isInteger(drainMs) || drainMs < 0 || drainMs > MAX_DRAIN_MS) return answer({ ok: false, error: `drainMs must be an integer from 0 to ${MAX_DRAIN_MS}` });
      }
      log.info({ cmd, drainMs }, 'control request');
      answer({ ok: true });
      if (cmd === 'stop') handlers.stop({ cmd, token: request.token, ...(drainMs === undefined ? {} : { drainMs }) });
      else handlers.restart({ cmd, token: request.token });
    });
    function answer(response: ControlResponse): void {
      socket.end(JSON.stringify(response) + '\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The socket file is created inside listen(): created 0600 from the start (not only
    // after the chmod below), since whoever connects may ask for the token.
    const umask = process.platform === 'win32' ? null : process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      if (umask !== null) process.umask(umask);
    }
  });
  if (process.platform !== 'win32') chmodSync(path, 0o600);
  server.on('error', (err) => log.error({ err }, 'control channel error'));
  // The control channel must never keep a stopping supervisor alive.
  server.unref();
  return { close: () => server.close() };
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
