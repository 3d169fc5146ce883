import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { errorBody } from './http/errors.js';
import { clientKey } from './http/rate-limit.js';

// How long after its last response a keep-alive connection may still send one more
// request (answered with `Connection: close`) once a stop has started. A client in a
// request loop sends its next request within microseconds, and ending its socket in
// that moment shows up as a reset; a connection idle for longer than this is ended at
// once, so a stop is not held up by idle clients.
const IDLE_GRACE_MS = 300;
// How often Node looks for requests past their headers or request timeout: a slow client
// is cut at most this long after its bound (Node's default, 30 s, would triple a 10 s bound).
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** The bounds a client gets (gateway.* config keys; defaults in src/config.ts). */
export interface ConnectionLimits {
  /** The request line and headers must arrive within this (slow-header clients, idle fresh sockets). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (slow-body clients). */
  requestTimeoutMs: number;
  /**
   * A keep-alive connection with no request in progress is closed after this, announced as
   * `Keep-Alive: timeout=N`. Clients such as undici stop reusing a socket a second before
   * it; a drain for a restart ends idle sockets only at this point, so no client ever
   * sends on a socket being closed.
   */
  idleTimeoutMs: number;
  /** Open connections in all; more are closed at once. */
  maxConnections: number;
  /** Open connections from one client address (an IPv6 /64 counts as one); more are closed at once. */
  maxConnectionsPerAddress: number;
  /** Addresses the per-address cap does not apply to (trusted reverse proxies carry many clients). */
  exempt?: (address: string) => boolean;
  /** Told when an address reaches its cap (once until it drops below again). */
  onCapReached?: (info: { address: string; open: number; scope: 'address' | 'total' }) => void;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 5000,
  maxConnections: 1024,
  maxConnectionsPerAddress: 128,
};

interface ConnectionState {
  active: number;
  /** Responses in progress, to turn keep-alive off when a drain starts mid-request. */
  responses: Set<ServerResponse>;
  served: number;
  lastActivity: number;
  idleTimer?: NodeJS.Timeout;
  /** The request last handed to the app, and the socket's bytesRead then (see rejectedMethod). */
  lastRequest?: IncomingMessage;
  lastRequestBytes: number;
  /** The response to `lastRequest`. */
  lastResponse?: ServerResponse;
}

export interface DrainableServer {
  server: http.Server;
  /** Listens on an inherited, already bound socket (fd) and resolves once listening. */
  listen(fd: number): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish (answered with `Connection: close`),
   * ends keep-alive connections once idle, and resolves when every connection is gone or
   * after `timeoutMs`, when the rest are destroyed. Resolves to the number cut off.
   */
  drain(timeoutMs: number, options?: { keepIdle?: boolean }): Promise<number>;
  /** Requests currently being handled. */
  inFlight(): number;
}

/**
 * The worker's HTTP server. Not `server.close()`: since Node 19 it also destroys idle
 * connections at once, including connections accepted a moment ago whose first request
 * is still on the wire, which turns every restart into a few resets.
 */
export function createDrainableServer(handler: (req: IncomingMessage, res: ServerResponse) => void, limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS): DrainableServer {
  const connections = new Map<Socket, ConnectionState>();
  const perAddress = new Map<string, number>();
  let draining = false;
  let idleGraceMs = IDLE_GRACE_MS;
  let onEmpty: (() => void) | null = null;

  const server = http.createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS }, (req, res) => {
    const state = connections.get(req.socket);
    if (state) {
      state.active++;
      state.served++;
      state.responses.add(res);
      state.lastRequest = req;
      state.lastRequestBytes = req.socket.bytesRead;
      state.lastResponse = res;
      if (state.idleTimer) clearTimeout(state.idleTimer);
      state.idleTimer = undefined;
    }
    if (draining) res.shouldKeepAlive = false;
    res.on('close', () => {
      if (!state) return;
      state.active--;
      state.responses.delete(res);
      state.lastActivity = Date.now();
      if (draining) endWhenIdle(req.socket, state);
    });
    handler(req, res);
  });
  // Keep-alive a little longer than common client pools (undici's default is 4 s) so a
  // client never sends on a socket the server is closing at the same moment.
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;

  // Requests Node's HTTP parser rejects before the app sees them (bad framing, a URL or
  // headers over 16 KB, a header timeout) get the documented JSON error, not Node's bare 400.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // As Node's own handler: answer unless a response has already started on this socket.
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    // And unless the request it is about was answered already: its body may still be on
    // the wire after an early answer (a 401 before the body was read), and a fault in that
    // body must not produce a second response to the same request.
    const state = connections.get(socket);
    const answered = state?.lastRequest && !state.lastRequest.complete && state.lastResponse?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent || answered) {
      socket.destroy();
      return;
    }
    const message = err.code === 'HPE_HEADER_OVERFLOW' ? 'Request line or headers too large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'Request not received in time' : 'Malformed HTTP request';
    const body = JSON.stringify(errorBody('INVALID_REQUEST', message));
    // A response to HEAD has no body, even an error (RFC 9110 9.3.2).
    const head = rejectedMethod(err, socket, state) === 'HEAD';
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`);
  });

  // Caps reached and not yet left (client keys, and TOTAL), so each is logged once.
  const capped = new Set<string>();
  const TOTAL = '(total)';
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const key = clientKey(address);
    const exempt = limits.exempt?.(address) ?? false;
    const open = perAddress.get(key) ?? 0;
    // Refused before Node reads a byte: a client holding many sockets (idle, or trickling
    // headers) cannot starve the others of descriptors and memory.
    const overTotal = connections.size >= limits.maxConnections;
    if (overTotal || (!exempt && open >= limits.maxConnectionsPerAddress)) {
      const scope = overTotal ? 'total' : 'address';
      if (!capped.has(overTotal ? TOTAL : key)) {
        capped.add(overTotal ? TOTAL : key);
        limits.onCapReached?.({ address, open: scope === 'total' ? connections.size : open, scope });
      }
      socket.destroy();
      return;
    }
    perAddress.set(key, open + 1);
    connections.set(socket, { active: 0, responses: new Set(), served: 0, lastActivity: Date.now(), lastRequestBytes: 0 });
    socket.once('close', () => {
      const state = connections.get(socket);
      if (state?.idleTimer) clearTimeout(state.idleTimer);
      connections.delete(socket);
      const left = (perAddress.get(key) ?? 1) - 1;
      if (left > 0) perAddress.set(key, left);
      else perAddress.delete(key);
      capped.delete(key);
      if (connections.size < limits.maxConnections) capped.delete(TOTAL);
      if (connections.size === 0) onEmpty?.();
    });
  });

  function endWhenIdle(socket: Socket, state: ConnectionState): void {
    if (state.active > 0 || state.served === 0 || state.idleTimer) return;
    const wait = Math.max(0, state.lastActivity + idleGraceMs - Date.now());
    state.idleTimer = setTimeout(() => {
      if (state.active === 0) socket.end();
    }, wait);
    state.idleTimer.unref();
  }

  return {
    server,
    listen(fd) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    inFlight() {
      let n = 0;
      for (const state of connections.values()) n += state.active;
      return n;
    },
    drain(timeoutMs, { keepIdle = false } = {}) {
      if (!draining) {
        draining = true;
        idleGraceMs = keepIdle ? limits.idleTimeoutMs : IDLE_GRACE_MS;
        // Stop accepting without http.Server's closeIdleConnections(); our copy of the
        // listening fd closes, the socket itself stays open in the supervisor.
        net.Server.prototype.close.call(server);
        for (const [socket, state] of connections) {
          for (const res of state.responses) if (!res.headersSent) res.shouldKeepAlive = false;
          endWhenIdle(socket, state);
        }
      }
      return new Promise((resolve) => {
        if (connections.size === 0) return resolve(0);
        const timer = setTimeout(() => {
          const cut = connections.size;
          for (const socket of connections.keys()) socket.destroy();
          resolve(cut);
        }, timeoutMs);
        onEmpty = () => {
          clearTimeout(timer);
          resolve(0);
        };
      });
    },
  };
}

/**
 * The method of a request Node's parser rejected, or null when it cannot be known: the
 * parser does not expose it before the headers are complete. If they were (a bad body,
 * e.g. broken chunking), the app already got the request. If not, the method is only in
 * the raw bytes, and only when the packet being parsed (`rawPacket`) starts with this
 * request: not when an earlier request of a pipeline came in the same packet, when the
 * request line came in an earlier packet (headers sent in pieces), or for a timeout.
 */
function rejectedMethod(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket, state: ConnectionState | undefined): string | null {
  const last = state?.lastRequest;
  if (last && !last.complete) return last.method ?? null;
  const packet = err.rawPacket;
  if (!packet) return null;
  if (last && state.lastRequestBytes > socket.bytesRead - packet.length) return null;
  return /^([A-Z]+) /.exec(packet.toString('latin1', 0, 16))?.[1] ?? null;
}
