import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configHash, locksDir } from './paths.js';

/**
 * The supervisor's control channel: what `stop` and `restart` use where there are no
 * POSIX signals (Windows). A named pipe on Windows, a Unix socket beside the lock
 * elsewhere (mode 0600 in a 0700 dir); every request carries the gateway token.
 * One newline-terminated JSON request per connection, one JSON answer.
 */
export type ControlCommand = 'stop' | 'restart';

export interface ControlRequest {
  cmd: ControlCommand;
  token: string;
}

export type ControlResponse = { ok: true } | { ok: false; error: string };

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
