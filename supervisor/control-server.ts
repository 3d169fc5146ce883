import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { ControlCommand, ControlRequest, ControlResponse } from '../src/control.js';
import type { Logger } from '../src/logger.js';

// A request is one short JSON line; anything longer is not ours.
const MAX_REQUEST_BYTES = 4096;
const REQUEST_TIMEOUT_MS = 5000;

export interface ControlServer {
  close(): void;
}

/**
 * Listens on the control path (see src/control.ts) and runs `handlers[cmd]` for a request
 * that carries the right token. The answer is sent before the command takes effect.
 */
export async function startControlServer(path: string, token: () => string | null, handlers: Record<ControlCommand, () => void>, logger: Logger): Promise<ControlServer> {
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
      let request: Partial<ControlRequest>;
      try {
        request = JSON.parse(data.slice(0, end)) as Partial<ControlRequest>;
      } catch {
        return answer({ ok: false, error: 'malformed request' });
      }
      const expected = token();
      if (!expected || typeof request.token !== 'string' || !sameSecret(request.token, expected)) {
        log.warn('control request with a wrong token refused');
        return answer({ ok: false, error: 'wrong token' });
      }
      const handler = request.cmd && Object.hasOwn(handlers, request.cmd) ? handlers[request.cmd] : undefined;
      if (!handler) return answer({ ok: false, error: `unknown command ${JSON.stringify(request.cmd)}` });
      log.info({ cmd: request.cmd }, 'control request');
      answer({ ok: true });
      handler();
    });
    function answer(response: ControlResponse): void {
      socket.end(JSON.stringify(response) + '\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
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
