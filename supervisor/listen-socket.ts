import { lookup } from 'node:dns/promises';
import { getSystemErrorName } from 'node:util';

/**
 * Why the supervisor holds a bound socket that it never listens on itself
 * (../shared/notes/zero-downtime.md, strategy C):
 * - the supervisor binds the port once and keeps the fd for its whole life;
 * - each worker inherits the fd (stdio slot 3) and calls listen() on it, so the kernel
 *   socket is in LISTEN state and the worker alone accepts;
 * - when a worker exits or crashes, the socket stays open in the supervisor: new
 *   connections wait in the kernel backlog (never refused) until the next worker
 *   listens on the same fd; during a restart old and new worker accept side by side;
 * - a respawn passes the same fd to the new supervisor.
 * A `net.Server` cannot bind without also accepting, so this uses the TCP handle that
 * `net` itself is built on. SO_REUSEPORT (Node >= 22.12) would be the alternative.
 */
interface TcpHandle {
  fd: number;
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  close(): void;
}

const tcpWrap = (process as unknown as { binding(name: string): { TCP: new (type: number) => TcpHandle; constants: { SERVER: number } } }).binding('tcp_wrap');

export interface ListenSocket {
  fd: number;
  host: string;
  port: number;
  close(): void;
}

/** An error carrying the errno name (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
export class BindError extends Error {
  constructor(readonly code: string, host: string, port: number) {
    super(`bind ${host}:${port} failed: ${code}`);
  }
}

/** Binds host:port (port 0 = any free port) without listening. */
export async function bindListenSocket(host: string, port: number): Promise<ListenSocket> {
  const { address, family } = await lookup(host);
  const handle = new tcpWrap.TCP(tcpWrap.constants.SERVER);
  const err = family === 6 ? handle.bind6(address, port, 0) : handle.bind(address, port);
  if (err) {
    handle.close();
    throw new BindError(getSystemErrorName(err), host, port);
  }
  // libuv defers EADDRINUSE from bind() to listen() and leaves the socket unbound (a
  // later listen() would then pick a random port), so read back what we really got.
  const name: { port?: number } = {};
  handle.getsockname(name);
  if (!name.port || (port !== 0 && name.port !== port)) {
    handle.close();
    throw new BindError('EADDRINUSE', host, port);
  }
  return { fd: handle.fd, host, port: name.port, close: () => handle.close() };
}

/** A socket inherited from a previous supervisor (respawn) at a known fd. */
export function adoptListenSocket(fd: number, host: string, port: number): ListenSocket {
  return { fd, host, port, close: () => {} };
}
