import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';

// How long after its last response a keep-alive connection may still send one more
// request (answered with `Connection: close`) once the drain has started. A client in a
// request loop sends its next request within microseconds, and ending its socket in
// that moment shows up as a reset; a connection idle for longer than this is ended at
// once, so a stop is not held up by idle clients.
const IDLE_GRACE_MS = 300;

interface ConnectionState {
  active: number;
  /** Responses in progress, to turn keep-alive off when a drain starts mid-request. */
  responses: Set<ServerResponse>;
  served: number;
  lastActivity: number;
  idleTimer?: NodeJS.Timeout;
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
  drain(timeoutMs: number): Promise<number>;
  /** Requests currently being handled. */
  inFlight(): number;
}

/**
 * The worker's HTTP server. Not `server.close()`: since Node 19 it also destroys idle
 * connections at once, including connections accepted a moment ago whose first request
 * is still on the wire, which turns every restart into a few resets.
 */
export function createDrainableServer(handler: (req: IncomingMessage, res: ServerResponse) => void): DrainableServer {
  const connections = new Map<Socket, ConnectionState>();
  let draining = false;
  let onEmpty: (() => void) | null = null;

  const server = http.createServer((req, res) => {
    const state = connections.get(req.socket);
    if (state) {
      state.active++;
      state.served++;
      state.responses.add(res);
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
  server.keepAliveTimeout = 5000;

  server.on('connection', (socket: Socket) => {
    connections.set(socket, { active: 0, responses: new Set(), served: 0, lastActivity: Date.now() });
    socket.once('close', () => {
      const state = connections.get(socket);
      if (state?.idleTimer) clearTimeout(state.idleTimer);
      connections.delete(socket);
      if (connections.size === 0) onEmpty?.();
    });
  });

  function endWhenIdle(socket: Socket, state: ConnectionState): void {
    if (state.active > 0 || state.served === 0 || state.idleTimer) return;
    const wait = Math.max(0, state.lastActivity + IDLE_GRACE_MS - Date.now());
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
    drain(timeoutMs) {
      if (!draining) {
        draining = true;
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
