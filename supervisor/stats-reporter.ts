import type { SupervisorStats } from '../src/ipc.js';
import { createProcessSampler } from '../src/process-stats.js';
import type { CrashPolicy } from './crash-policy.js';
import type { WorkerProcess } from './worker-process.js';

/** How often serving workers get the supervisor's numbers (what a scrape sees is at most this old). */
const REPORT_INTERVAL_MS = 5000;

export interface StatsReporter {
  countRestart(): void;
  countCrash(): void;
  countRecycle(reason: 'memory' | 'age'): void;
  /** A standby took over from a crashed or replaced worker. */
  countPromotion(): void;
  /** A standby exited without being asked to (not a crash of the serving worker). */
  countStandbyCrash(): void;
  /** Whether a loaded standby waits now (none waiting forgets its memory). */
  setStandbyWaiting(waiting: boolean): void;
  /** The waiting standby's latest memory report. */
  setStandbyRss(rssBytes: number): void;
  /** Sends the numbers now to one worker (a worker that just became ready). */
  sendTo(worker: WorkerProcess): void;
  stop(): void;
}

/**
 * The supervisor's side of /metrics: its memory and event-loop delay, restarts, crashes and
 * the crash policy's state, sent to the workers over IPC every few seconds. The worker
 * turns them into metrics; the supervisor itself loads no metrics library.
 */
export function createStatsReporter(crashPolicy: CrashPolicy, workers: () => Iterable<WorkerProcess>): StatsReporter {
  const sampler = createProcessSampler();
  let restarts = 0;
  let workerCrashes = 0;
  const recycles = { memory: 0, age: 0 };
  const standby: SupervisorStats['standby'] = { waiting: false, rssBytes: null, promotions: 0, crashes: 0 };
  let latest: SupervisorStats | null = null;
  const snapshot = (): SupervisorStats => ({ process: sampler.sample(), restarts, workerCrashes, recycles: { ...recycles }, crashPolicy: crashPolicy.state(), standby: { ...standby } });
  const timer = setInterval(() => {
    latest = snapshot();
    for (const worker of workers()) if (worker.state() === 'ready') worker.send({ cmd: 'supervisor-stats', stats: latest });
  }, REPORT_INTERVAL_MS);
  timer.unref();
  return {
    countRestart: () => void restarts++,
    countCrash: () => void workerCrashes++,
    countRecycle: (reason) => void recycles[reason]++,
    countPromotion: () => void standby.promotions++,
    countStandbyCrash: () => void standby.crashes++,
    setStandbyWaiting(waiting) {
      standby.waiting = waiting;
      if (!waiting) standby.rssBytes = null;
    },
    setStandbyRss: (rssBytes) => void (standby.rssBytes = rssBytes),
    sendTo(worker) {
      // The memory and the counters now; the event-loop delay of the last full interval.
      const now = snapshot();
      if (latest) now.process.eventLoopDelay = latest.process.eventLoopDelay;
      worker.send({ cmd: 'supervisor-stats', stats: now });
    },
    stop() {
      clearInterval(timer);
      sampler.stop();
    },
  };
}
