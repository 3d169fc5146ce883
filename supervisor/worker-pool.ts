import type { Config } from '../src/config.js';
import type { WorkerOptions } from '../src/ipc.js';
import type { Logger } from '../src/logger.js';
import type { CrashPolicy } from './crash-policy.js';
import type { MemoryGuard } from './memory-guard.js';
import { createStandby } from './standby.js';
import type { StatsReporter } from './stats-reporter.js';
import type { SupervisorState } from './state.js';
import type { WorkerExit, WorkerProcess } from './worker-process.js';

// Bounded waits, named.
const WORKER_READY_TIMEOUT_MS = 30_000;
const BACKGROUND_STOP_TIMEOUT_MS = 10_000;
// A standby starts this long after the worker it backs up serves (at start, after a
// promotion or a restart): that worker first answers what queued up meanwhile.
const STANDBY_START_DELAY_MS = 500;

/** How a worker starts: see WorkerOptions. */
export type WorkerStart = Pick<WorkerOptions, 'background' | 'warmFirst' | 'standby'>;

export interface WorkerPoolOptions {
  state: SupervisorState;
  logger: Logger;
  /** Forks a worker with the config of the moment on the listening socket. */
  fork(start: WorkerStart): WorkerProcess;
  /** The config of the moment (what a standby must have been started with). */
  config(): Config;
  crashPolicy: CrashPolicy;
  stats: StatsReporter;
  guard: MemoryGuard;
  /** Re-reads the config file for the next worker; throws when it is invalid now. */
  reloadConfig(): void;
  /** The drain bound of the config of the moment. */
  drainMs(): number;
  /** The serving worker changed: its pid, or null when none serves. */
  onServing(worker: WorkerProcess | null): void;
  /** The waiting standby changed: its pid, or null when none waits. */
  onStandby?(worker: WorkerProcess | null): void;
  /** A worker cannot be kept serving (it cannot start, or crashes too often): stop the gateway. */
  giveUp(reason: string, detail: { workerPid: number; fatal: string | null }): void;
  /** The memory guard wants the serving worker replaced. */
  recycle(reason: 'memory' | 'age'): void;
}

/** The serving worker, every worker still alive, and what happens when one starts, crashes or is replaced. */
export interface WorkerPool {
  current(): WorkerProcess | null;
  live(): ReadonlySet<WorkerProcess>;
  /** Starts the first worker (or one after a crash) and waits until it serves; false if it never did. */
  startServing(): Promise<boolean>;
  /**
   * Replaces the serving worker without a pause: the new one serves alongside the old one
   * first, the background services move over, then the old one drains. False when the new
   * worker could not start or the config is invalid now; the old one keeps serving then.
   */
  swap(): Promise<boolean>;
  /** Asks the serving worker to stop its background services and waits (bounded) until it did. */
  stopBackground(): Promise<void>;
  /** Drains every live worker (or kills them when `immediately`); a crash from now on is not answered. */
  stopAll(drainMs: number, options: { immediately?: boolean; forRestart?: boolean }): Promise<void>;
}

/**
 * The supervisor's workers: one serves at a time (two while a swap hands over), and with
 * gateway.worker.standby a loaded standby waits beside it. A crash of the serving worker
 * is answered by promoting the standby at once, or else with a new worker after the crash
 * policy's backoff; either way it counts toward the policy, which gives up when crashes
 * come too fast for a new worker to help.
 */
export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const { state, logger, crashPolicy, stats, guard } = options;
  let current: WorkerProcess | null = null;
  const live = new Set<WorkerProcess>();
  let respawnTimer: NodeJS.Timeout | null = null;
  let stopping = false;
  // The memory guard asked for the next swap: the standby may take over (a SIGUSR1 or a
  // config change gets a fresh worker instead, so that it runs the code and config on disk).
  let recycleAsked = false;
  const standby = createStandby({
    logger,
    stats,
    fork: () => start({ background: false, warmFirst: false, standby: true }),
    config: options.config,
    stopping: () => stopping || state.phase === 'stopping',
    onChange: (worker) => options.onStandby?.(worker),
  });

  function start(how: WorkerStart): WorkerProcess {
    const worker = options.fork(how);
    live.add(worker);
    guard.started(worker.pid);
    worker.on('memory', (message) => {
      // A waiting standby's memory is shown in /metrics; the guard watches only the serving worker.
      if (standby.isWaiting(worker)) stats.setStandbyRss(message.rssBytes);
      else onMemoryReport(worker, message.rssBytes);
    });
    void worker.exited.then((exit) => {
      live.delete(worker);
      guard.exited(worker.pid);
      onExit(worker, exit);
    });
    logger.info({ workerPid: worker.pid, background: how.background, ...(how.standby ? { standby: true } : {}) }, how.standby ? 'standby worker started' : 'worker started');
    return worker;
  }

  /** Waits for a worker's `ready`; one that hangs in start-up is killed and counts as a crash. */
  async function waitReady(worker: WorkerProcess): Promise<boolean> {
    try {
      await worker.waitFor('ready', WORKER_READY_TIMEOUT_MS);
    } catch (err) {
      if (worker.state() !== 'dead') {
        logger.error({ err, workerPid: worker.pid }, 'worker did not become ready: killing it');
        void worker.kill({ deliberate: false });
      }
      return false;
    }
    crashPolicy.onReady();
    stats.sendTo(worker);
    return true;
  }

  /** Tells a standby to listen; resolves once it serves. Its age for the memory guard counts from now. */
  async function promote(worker: WorkerProcess): Promise<boolean> {
    worker.send({ cmd: 'serve' });
    if (!(await waitReady(worker))) return false;
    guard.started(worker.pid);
    stats.countPromotion();
    stats.sendTo(worker);
    return true;
  }

  function setCurrent(worker: WorkerProcess | null): void {
    current = worker;
    options.onServing(worker);
  }

  async function startServing(): Promise<boolean> {
    // Current at once, so that its crash in start-up is handled as one. It warms before it
    // listens only while a previous supervisor's worker still serves (a respawn restart):
    // after a crash, or at start, requests wait in the backlog for it and /health comes first.
    const worker = start({ background: state.ownsBackground, warmFirst: !state.ownsLock, standby: false });
    current = worker;
    if (!(await waitReady(worker))) return false;
    setCurrent(worker);
    standby.ensure(STANDBY_START_DELAY_MS);
    return true;
  }

  /** The serving worker crashed and a standby waits: it serves now, without the backoff pause. */
  async function takeOver(worker: WorkerProcess, crashed: number): Promise<void> {
    // Current at once: its crash while being promoted is handled as one.
    current = worker;
    if (!(await promote(worker))) return;
    // A restart finished meanwhile and put its own worker in place: this one is not needed.
    if (current !== worker) return void worker.drain(options.drainMs(), { forRestart: true });
    setCurrent(worker);
    if (state.ownsBackground) worker.send({ cmd: 'start-background' });
    logger.info({ workerPid: worker.pid, crashedPid: crashed }, 'standby worker promoted: serving');
    standby.ensure(STANDBY_START_DELAY_MS);
  }

  function onExit(worker: WorkerProcess, exit: WorkerExit): void {
    if (exit.deliberate || worker !== current || stopping || state.phase === 'stopping') {
      logger.info({ workerPid: worker.pid, code: exit.code, signal: exit.signal }, 'worker exited');
      return;
    }
    setCurrent(null);
    stats.countCrash();
    if (exit.fatal) {
      logger.fatal({ workerPid: worker.pid, reason: exit.fatal }, 'worker cannot start: giving up');
      options.giveUp('worker start-up failed', { workerPid: worker.pid, fatal: exit.fatal });
      return;
    }
    // A promotion counts as a crash too: the give-up rule and the metrics see every one.
    const delay = crashPolicy.onCrash();
    if (delay === null) {
      logger.fatal({ workerPid: worker.pid, code: exit.code, signal: exit.signal }, 'worker crashed too often: giving up so a service manager can take over');
      options.giveUp('too many worker crashes', { workerPid: worker.pid, fatal: null });
      return;
    }
    const next = standby.take();
    if (next) {
      logger.error({ workerPid: worker.pid, code: exit.code, signal: exit.signal, standbyPid: next.pid, ...(next.state() === 'standby' ? {} : { loading: true }) }, 'worker crashed: promoting the standby worker');
      void takeOver(next, worker.pid);
      return;
    }
    logger.error({ workerPid: worker.pid, code: exit.code, signal: exit.signal, retryInMs: delay }, 'worker crashed: starting a new one');
    respawnTimer = setTimeout(() => {
      respawnTimer = null;
      // Stopping, or a restart put a new worker in place meanwhile.
      if (stopping || state.phase === 'stopping' || (current && current.state() !== 'dead')) return;
      try {
        options.reloadConfig();
      } catch (err) {
        logger.warn({ reason: (err as Error).message }, 'the config is invalid now: the new worker keeps the previous one');
      }
      standby.dropStale(options.drainMs());
      void startServing();
    }, delay);
  }

  /** The memory guard: a worker above gateway.worker.maxRssMb (or past maxAgeHours) is swapped like an in-process restart. */
  function onMemoryReport(worker: WorkerProcess, rssBytes: number): void {
    // Not while a respawned supervisor is still taking over: the old one's worker may still run the background services.
    if (worker !== current || state.phase !== 'running' || !state.ownsLock || !state.ownsBackground) return;
    const verdict = guard.report(worker.pid, rssBytes);
    if (verdict.action === 'over-at-start') {
      logger.warn({ workerPid: worker.pid }, `a fresh worker is already over the memory limit (${verdict.detail}): the limit is too low for this gateway; not replacing it`);
      return;
    }
    if (verdict.action !== 'recycle') return;
    logger.warn({ workerPid: worker.pid, reason: verdict.reason }, `replacing the worker: ${verdict.detail}`);
    stats.countRecycle(verdict.reason);
    recycleAsked = true;
    options.recycle(verdict.reason);
  }

  async function stopBackgroundOf(worker: WorkerProcess | null): Promise<void> {
    if (!worker || worker.state() === 'dead') return;
    worker.send({ cmd: 'stop-background' });
    await worker.waitFor('background-stopped', BACKGROUND_STOP_TIMEOUT_MS).catch((err) => logger.warn({ err }, 'old worker did not confirm stopping background services'));
  }

  async function swap(): Promise<boolean> {
    const recycle = recycleAsked;
    recycleAsked = false;
    // The new worker becomes current only once it serves: a new worker that cannot start
    // (say, a config edited into something invalid) fails the restart, not the gateway.
    try {
      options.reloadConfig();
    } catch (err) {
      logger.error({ reason: (err as Error).message }, 'restart failed: the config is invalid; the running worker keeps serving');
      return false;
    }
    // The standby takes over only for the memory guard, and only with the config of the moment.
    if (recycle) standby.dropStale(options.drainMs());
    // Only a loaded one: the old worker serves meanwhile, so nothing is gained by a cold one.
    const promoted = recycle ? standby.take({ loadedOnly: true }) : null;
    // Warm before it listens: the old worker serves meanwhile, so no connection need wait for lazy routes.
    const next = promoted ?? start({ background: false, warmFirst: true, standby: false });
    if (!(await (promoted ? promote(next) : waitReady(next)))) {
      logger.error('restart failed: the new worker did not start; the old one keeps serving');
      standby.ensure(STANDBY_START_DELAY_MS);
      return false;
    }
    // Read now, not before the wait: a crash meanwhile may have put another worker in place.
    const old = current;
    // Current before the old one is told anything: its exit from now on is not a crash.
    setCurrent(next);
    await stopBackgroundOf(old);
    next.send({ cmd: 'start-background' });
    stats.countRestart();
    stats.sendTo(next);
    logger.info({ workerPid: next.pid, ...(promoted ? { promoted: true } : {}) }, promoted ? 'restart done: the standby worker serving' : 'restart done: new worker serving');
    // The old worker drains on its own time; the next restart need not wait for it.
    if (old) void old.drain(options.drainMs(), { forRestart: true });
    // A standby that was not promoted is replaced: it runs the code and config of before.
    if (promoted) standby.ensure(STANDBY_START_DELAY_MS);
    else standby.replace(options.drainMs(), STANDBY_START_DELAY_MS);
    return true;
  }

  async function stopAll(drainMs: number, { immediately = false, forRestart = false }: { immediately?: boolean; forRestart?: boolean }): Promise<void> {
    stopping = true;
    if (respawnTimer) clearTimeout(respawnTimer);
    respawnTimer = null;
    standby.stop();
    await Promise.all([...live].map((worker) => (immediately ? worker.kill() : worker.drain(drainMs, { forRestart }))));
  }

  return { current: () => current, live: () => live, startServing, swap, stopBackground: () => stopBackgroundOf(current), stopAll };
}
