import type { Config } from './config.js';
import type { ProcessStats } from './process-stats.js';

/**
 * The one message vocabulary between the supervisor and its worker, and between an
 * old supervisor and the new one it respawns. Each side routes `cmd` through a table.
 */

/** Sent by the supervisor to a worker. */
export type SupervisorToWorker =
  /** The answer to `options-request`: everything the worker needs to start, secrets included. */
  | { cmd: 'options'; options: WorkerOptions }
  /** Start background services (channel polling, cron timers): this worker now owns them. */
  | { cmd: 'start-background' }
  /** Stop background services, answer `background-stopped`, keep serving HTTP. */
  | { cmd: 'stop-background' }
  /**
   * Stop accepting, finish in-flight requests within `timeoutMs`, then exit 0. For a
   * restart, idle keep-alive connections are kept until their keep-alive timeout (clients
   * stop using them just before it), since another worker takes over.
   */
  | { cmd: 'drain'; timeoutMs: number; forRestart?: boolean }
  /** The supervisor's own numbers and counters, for the worker's /metrics (the supervisor loads no metrics library). */
  | { cmd: 'supervisor-stats'; stats: SupervisorStats }
  /** A standby (loaded, not listening) is promoted: listen on the inherited socket, then answer `ready`. */
  | { cmd: 'serve' };

/** What the supervisor reports about itself and its workers; counters count since this supervisor started. */
export interface SupervisorStats {
  process: ProcessStats;
  /** In-process restarts completed (a respawn restart starts a new supervisor, whose counters start at 0). */
  restarts: number;
  /** Workers that exited without being asked to. */
  workerCrashes: number;
  /** Workers replaced by the memory guard, by reason. */
  recycles: { memory: number; age: number };
  /** Crash policy: crashes within its window (it gives up at `giveUpAt`) and the delay the next crash would get. */
  crashPolicy: { recentCrashes: number; giveUpAt: number; nextDelayMs: number };
  /** The warm standby (gateway.worker.standby): whether one is loaded and waiting (and its RSS, once it reported), promotions, its own crashes. */
  standby: { waiting: boolean; rssBytes: number | null; promotions: number; crashes: number };
}

/** Sent by a worker to its supervisor. */
export type WorkerToSupervisor =
  /**
   * A worker's first message. The config holds secrets, so it travels over the IPC channel
   * rather than the environment, which /proc/<pid>/environ shows for the process's whole
   * life and which anything the worker spawns would inherit. The worker asks rather than
   * being told at once because a message arriving before its listener exists would be lost.
   */
  | { cmd: 'options-request' }
  /** Listening on the inherited socket and ready to serve. */
  | { cmd: 'ready'; pid: number }
  /** A standby is loaded and warm, and waits for `serve` without listening. */
  | { cmd: 'standby-ready'; pid: number }
  | { cmd: 'background-started' }
  | { cmd: 'background-stopped' }
  /** Started draining (stopped accepting). */
  | { cmd: 'draining'; inFlight: number }
  /** Start-up failed in a way a respawn cannot fix (bad config, listen error). */
  | { cmd: 'fatal'; message: string }
  /** Its resident memory, every `gateway.worker.memoryCheckMs`, for the memory guard. */
  | { cmd: 'memory'; rssBytes: number };

/** Between an old supervisor and the new one it spawned for a respawn restart. */
export type HandoverMessage =
  /**
   * new -> old, first of all: the flags that are not on the new one's command line (the
   * token of `--token`, kept out of argv). Asked for, since a message sent before the new
   * process listens would be lost.
   */
  | { cmd: 'handover-secrets-request' }
  /** old -> new: the answer. */
  | { cmd: 'handover-secrets'; token: string | null }
  /** new -> old: my worker is ready and serving on the inherited socket. */
  | { cmd: 'handover-ready'; pid: number }
  /** old -> new: my worker stopped its background services; start yours. */
  | { cmd: 'background-free' }
  /** old -> new: the lock is released; take it. */
  | { cmd: 'lock-released' }
  /** new -> old: I hold the lock now; you may exit. */
  | { cmd: 'lock-taken' }
  /** new -> old: start-up failed; keep serving. */
  | { cmd: 'handover-failed'; message: string };

/** What the supervisor passes to a worker (over IPC, see `options-request`). */
export interface WorkerOptions {
  configPath: string;
  /** The config as the supervisor loaded and validated it (flags and environment applied). */
  config: Config;
  /** Fd number (in the worker) of the inherited listening socket. */
  listenFd: number;
  /** Whether to start background services right away (false during a restart handover). */
  background: boolean;
  /**
   * Load the routes that otherwise load on first use before listening, so that no
   * connection waits for them: for a worker that starts while another one still serves.
   */
  warmFirst: boolean;
  /** A standby: load and warm everything, then wait for `serve` without listening or running background services. */
  standby: boolean;
  /** Port/host the supervisor bound, for logs and /health. */
  port: number;
  host: string;
}

/** Set on a supervisor spawned by a respawn restart: fd 3 is the listening socket, stdio fd 4 the IPC to the old one. */
export const HANDOVER_ENV = 'XOPC_HANDOVER_FROM';
/** Set by the service manager or by a respawn handover: the listening socket is already open at this fd. */
export const LISTEN_FD_ENV = 'XOPC_LISTEN_FD';

export function isMessage<T extends { cmd: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { cmd?: unknown }).cmd === 'string';
}
