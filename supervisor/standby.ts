import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import { workerKeys } from './config-source.js';
import { createCrashPolicy } from './crash-policy.js';
import type { StatsReporter } from './stats-reporter.js';
import type { WorkerProcess } from './worker-process.js';

// Bounded waits, named.
const STANDBY_LOAD_TIMEOUT_MS = 30_000;
// A standby that keeps crashing is retried this often at most: it is never a reason to stop the gateway.
const STANDBY_GIVE_UP_RETRY_MS = 30_000;

export interface StandbyOptions {
  logger: Logger;
  stats: StatsReporter;
  /** Forks a worker that loads, warms and waits for `serve` (see the pool's `start`). */
  fork(): WorkerProcess;
  /** The config of the moment: whether a standby is wanted, and what a standby must have been started with. */
  config(): Config;
  /** The pool is stopping: start nothing more. */
  stopping(): boolean;
  /** The waiting standby changed: its pid, or null when none waits. */
  onChange(worker: WorkerProcess | null): void;
}

/**
 * The warm standby (gateway.worker.standby): a second worker, loaded and warmed, that does
 * not listen and runs no background services until the pool promotes it. A standby that
 * crashes is replaced after its own backoff; its crashes never count toward the serving
 * worker's crash policy, so a standby can never take the gateway down.
 */
export function createStandby(options: StandbyOptions) {
  const { logger, stats } = options;
  // Its own backoff: 100 ms doubling, reset once a standby has waited for a minute.
  const policy = createCrashPolicy();
  /** Started, loaded or not yet. */
  let slot: WorkerProcess | null = null;
  let waiting = false;
  let timer: NodeJS.Timeout | null = null;

  const wanted = () => options.config().gateway.worker.standby === true && !options.stopping();

  function setWaiting(worker: WorkerProcess | null): void {
    waiting = worker !== null;
    stats.setStandbyWaiting(waiting);
    options.onChange(worker);
  }

  function start(): void {
    const worker = options.fork();
    slot = worker;
    void worker.exited.then((exit) => {
      if (worker !== slot) return;
      slot = null;
      if (waiting) setWaiting(null);
      if (exit.deliberate || options.stopping()) return;
      stats.countStandbyCrash();
      const delay = policy.onCrash() ?? STANDBY_GIVE_UP_RETRY_MS;
      logger.error({ workerPid: worker.pid, code: exit.code, signal: exit.signal, reason: exit.fatal ?? undefined, retryInMs: delay }, 'standby worker crashed: starting a new one (the serving worker is not affected)');
      ensure(delay);
    });
    worker.waitFor('standby-ready', STANDBY_LOAD_TIMEOUT_MS).then(
      () => {
        if (worker !== slot) return;
        policy.onReady();
        setWaiting(worker);
        logger.info({ workerPid: worker.pid }, 'standby worker loaded and waiting');
      },
      (err: unknown) => {
        if (worker !== slot || worker.state() === 'dead') return;
        logger.error({ err, workerPid: worker.pid }, 'standby worker did not load: killing it');
        void worker.kill({ deliberate: false });
      },
    );
  }

  /** Starts a standby after `delayMs` unless one runs or is on its way, or none is wanted. */
  function ensure(delayMs: number): void {
    if (slot || timer || !wanted()) return;
    timer = setTimeout(() => {
      timer = null;
      if (!slot && wanted()) start();
    }, delayMs);
  }

  /** Ends the standby (drained: it holds no connection, so this is quick). */
  function retire(drainMs: number): void {
    const worker = slot;
    if (!worker) return;
    slot = null;
    if (waiting) setWaiting(null);
    void worker.drain(drainMs);
  }

  return {
    /**
     * Hands over the standby (the caller promotes it) and empties the slot; null when none
     * runs. One still loading is handed over too, unless `loadedOnly`: told to serve, it
     * listens as soon as its app is built, sooner than a new worker could. A standby due to
     * start is not started: whoever takes the slot asks for the next one once it serves.
     */
    take({ loadedOnly = false } = {}): WorkerProcess | null {
      if (timer) clearTimeout(timer);
      timer = null;
      if (!slot || (loadedOnly ? !waiting : slot.state() !== 'starting' && slot.state() !== 'standby')) return null;
      const worker = slot;
      slot = null;
      if (waiting) setWaiting(null);
      return worker;
    },
    ensure,
    /** Whether `worker` is the standby that is loaded and waits now. */
    isWaiting: (worker: WorkerProcess): boolean => waiting && slot === worker,
    /**
     * After the config was re-read: a standby started with another config (in a key a
     * worker applies) is ended (a new one follows with `ensure`), so that a promotion
     * never brings back an old config.
     */
    dropStale(drainMs: number): void {
      if (!slot || (wanted() && workerKeys(slot.config, options.config()).length === 0)) return;
      logger.info({ workerPid: slot.pid }, wanted() ? 'the config changed: ending the standby worker started with the previous one' : 'gateway.worker.standby is off: ending the standby worker');
      retire(drainMs);
    },
    /** Replaces the standby whatever its config (after a restart, so that it runs the code and config of the moment). */
    replace(drainMs: number, delayMs: number): void {
      retire(drainMs);
      ensure(delayMs);
    },
    /** Starts nothing more (the pool stops; its workers, the standby among them, are drained there). */
    stop(): void {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}

export type Standby = ReturnType<typeof createStandby>;
