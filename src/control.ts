import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configHash, locksDir } from './paths.js';

/**
 * The supervisor's control channel: how `stop --timeout` passes its drain bound, how the
 * CLI finds the token of a gateway started with `--token`, and how `stop` and `restart`
 * work where there are no POSIX signals (Windows). A named pipe on Windows, a Unix socket
 * beside the lock elsewhere (mode 0600 in a 0700 dir). One newline-terminated JSON request
 * per connection, one JSON answer.
 *
 * `stop` and `restart` carry the gateway token. `token` carries none and answers with the
 * token, on a Unix socket only: only processes of the gateway's own user can connect to it
 * (its mode), and such a process can already read the gateway's config file, signal it and
 * read its environment; the answer goes over the socket, never to disk or a command line.
 * A Windows named pipe's default access is wider, so there the request is refused.
 */
export type ControlCommand = 'stop' | 'restart';

export type ControlRequest =
  /** `drainMs`: how long to drain in-flight requests, instead of gateway.drainTimeoutMs. */
  | { cmd: 'stop'; token: string; drainMs?: number }
  | { cmd: 'restart'; token: string }
  | { cmd: 'token' };

export type ControlResponse = { ok: true; token?: string } | { ok: false; error: string };

/** Whether the control channel answers `token` requests on this platform (see above). */
export function controlRevealsToken(platform: NodeJS.Platform = process.platform): boolean {
  return platform !== 'win32';
}

// sun_path holds 108 bytes on Linux (104 on macOS): a deep XOPC_HOME falls back to tmpdir.
const MAX_UNIX_SOCKET_PATH = 100;

/** Where the gateway for this config listens for control requests. */
export function controlPath(absConfigPath: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const hash = configHash(absConfigPath);
  if (platform === 'win32') return `\\\\.\\pipe\\xopc-gateway-${hash}`;
  const beside = join(locksDir(env), `gateway.${hash}.sock`);
  if (Buffer.byteLength(beside) <= MAX_UNIX_SOCKET_PATH) return beside;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(tmpdir(), `xopc-${uid}-${hash}.sock`);
}

/** Sends one request and resolves with the answer; rejects when nobody answers within `timeoutMs`. */
export function sendControl(path: string, request: ControlRequest, timeoutMs = 5000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer on the control channel ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the control channel ${path}: ${err.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(data) as ControlResponse);
      } catch {
        reject(new Error(`the control channel ${path} closed without an answer`));
      }
    });
  });
}
