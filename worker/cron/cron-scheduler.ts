import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../src/logger.js';
import type { CronRunner } from './cron-runner.js';
import { jobTiming, type Timing } from './cron-schedule.js';
import type { CronStore } from './cron-store.js';
import type { CronJob, RunTrigger } from './cron-types.js';

/**
 * The timers. Only the worker that owns background services runs them (between `start`
 * and `stop`, SPEC 3 handover rule), so a restart never has two workers firing.
 *
 * Missed runs: each job remembers `handledThrough`, the time up to which every
 * occurrence was dealt with; it is written in the same atomic write that claims a run,
 * before the agent is called. When the scheduler starts (gateway start, restart
 * handover) it runs, for every enabled job with occurrences after `handledThrough`,
 * exactly one catch-up run standing for the latest of them, however many were missed;
 * jobs that missed nothing do not run. A timer that fires late (machine asleep, event
 * loop blocked) follows the same rule. A job that was disabled owes nothing for that
 * time: enabling it moves `handledThrough` to now.
 */
export interface CronScheduler {
  /** Takes over: settles runs left by dead workers, runs the catch-ups owed, arms every enabled job, watches the dir. */
  start(): void;
  /** Clears every timer; runs in progress go on and record themselves. */
  stop(): void;
  /** Re-reads one job after a change this worker made (no-op while stopped). */
  refresh(id: string): void;
  isActive(): boolean;
}

export interface CronSchedulerOptions {
  store: CronStore;
  runner: CronRunner;
  logger: Logger;
  now?: () => number;
}

// Long waits are cut into steps so a clock change or a suspended machine is noticed
// within this long (croner does the same), and setTimeout's 2^31 ms limit never matters.
const MAX_TIMER_MS = 60_000;
// Changes by the other worker during a restart arrive as a burst of file events.
const WATCH_DEBOUNCE_MS = 50;
// When the dir cannot be watched (exotic file systems), it is re-read this often instead.
const POLL_FALLBACK_MS = 10_000;
// After a failed read or write, the job is tried again this much later.
const RETRY_MS = 30_000;

interface Armed {
  timer: NodeJS.Timeout;
  /** What the timer was computed from; a change re-arms it. */
  key: string;
}

export function createCronScheduler(options: CronSchedulerOptions): CronScheduler {
  const { store, runner, logger } = options;
  const now = options.now ?? Date.now;
  const armed = new Map<string, Armed>();
  let active = false;
  let watcher: FSWatcher | null = null;
  let poller: NodeJS.Timeout | null = null;
  let debounce: NodeJS.Timeout | null = null;

  function disarm(id: string): void {
    const entry = armed.get(id);
    if (entry) clearTimeout(entry.timer);
    armed.delete(id);
  }

  function setTimer(id: string, key: string, delayMs: number, onFire: () => void): void {
    disarm(id);
    const timer = setTimeout(() => {
      if (armed.get(id)?.timer !== timer) return;
      armed.delete(id);
      if (active) onFire();
    }, Math.max(0, Math.min(delayMs, MAX_TIMER_MS)));
    timer.unref();
    armed.set(id, { timer, key });
  }

  /** Runs the occurrence a job owes now, if any, then arms its next one. */
  function sync(job: CronJob, trigger: RunTrigger): void {
    disarm(job.id);
    if (!job.enabled) return;
    let timing: Timing;
    try {
      timing = jobTiming(job);
    } catch (err) {
      logger.error({ err, jobId: job.id }, 'cron job has an unusable schedule: it will not run until it is fixed');
      return;
    }
    let current = job;
    const due = timing.latest(new Date(current.handledThrough), new Date(now()));
    if (due) {
      const outcome = runner.start(current.id, trigger, due);
      if (outcome.status === 'missing') return;
      current = outcome.job;
      if (!current.enabled) return;
    }
    arm(current, timing);
  }

  function arm(job: CronJob, timing: Timing): void {
    const from = Math.max(now(), Date.parse(job.handledThrough));
    const next = timing.next(new Date(from));
    if (!next) return;
    const key = keyOf(job);
    const wait = () => {
      const left = next.getTime() - now();
      // Timers may fire a little early by the wall clock: wait out the rest.
      if (left > 0) setTimer(job.id, key, left, wait);
      else fire(job.id);
    };
    setTimer(job.id, key, next.getTime() - now(), wait);
  }

  function fire(id: string): void {
    try {
      const job = store.get(id);
      if (job) sync(job, 'schedule');
    } catch (err) {
      logger.error({ err, jobId: id, retryInMs: RETRY_MS }, 'cron job could not be read or claimed; trying again later');
      setTimer(id, 'retry', RETRY_MS, () => fire(id));
    }
  }

  /** Brings the timers in line with the files: new, changed and deleted jobs (also those changed by another worker). */
  function reconcile(): void {
    if (!active) return;
    let jobs: CronJob[];
    try {
      jobs = store.list();
    } catch (err) {
      logger.error({ err }, 'cron dir could not be read; keeping the current timers');
      return;
    }
    const seen = new Set<string>();
    for (const job of jobs) {
      seen.add(job.id);
      if (armed.get(job.id)?.key === keyOf(job)) continue;
      try {
        sync(job, 'catch-up');
      } catch (err) {
        logger.error({ err, jobId: job.id }, 'cron job could not be scheduled; trying again later');
        setTimer(job.id, 'retry', RETRY_MS, () => fire(job.id));
      }
    }
    for (const id of [...armed.keys()]) if (!seen.has(id)) disarm(id);
  }

  function watchDir(): void {
    try {
      watcher = watch(store.dir, { persistent: false }, (_event, name) => {
        if (name && name.startsWith('.')) return; // temp files of atomic writes
        if (debounce) clearTimeout(debounce);
        debounce = setTimeout(() => {
          debounce = null;
          reconcile();
        }, WATCH_DEBOUNCE_MS);
        debounce.unref();
      });
      watcher.on('error', (err) => {
        logger.warn({ err }, 'watching the cron dir failed; re-reading it periodically instead');
        watcher?.close();
        watcher = null;
        pollDir();
      });
    } catch (err) {
      logger.warn({ err }, 'cannot watch the cron dir; re-reading it periodically instead');
      pollDir();
    }
  }

  function pollDir(): void {
    if (!active || poller) return;
    poller = setInterval(reconcile, POLL_FALLBACK_MS);
    poller.unref();
  }

  return {
    start() {
      if (active) return;
      active = true;
      for (const job of safeList()) {
        try {
          store.update(job.id, (current) => (runner.settleStale(current) ? current : null));
        } catch (err) {
          logger.error({ err, jobId: job.id }, 'could not settle a cron run left by a dead worker');
        }
      }
      reconcile();
      watchDir();
      logger.info({ jobs: armed.size }, 'cron scheduler started');
    },
    stop() {
      if (!active) return;
      active = false;
      for (const id of [...armed.keys()]) disarm(id);
      watcher?.close();
      watcher = null;
      if (poller) clearInterval(poller);
      poller = null;
      if (debounce) clearTimeout(debounce);
      debounce = null;
      logger.info('cron scheduler stopped');
    },
    refresh(id) {
      if (!active) return;
      try {
        const job = store.get(id);
        if (job) sync(job, 'catch-up');
        else disarm(id);
      } catch (err) {
        logger.error({ err, jobId: id }, 'cron job could not be rescheduled; trying again later');
        setTimer(id, 'retry', RETRY_MS, () => fire(id));
      }
    },
    isActive: () => active,
  };

  function safeList(): CronJob[] {
    try {
      return store.list();
    } catch (err) {
      logger.error({ err }, 'cron dir could not be read');
      return [];
    }
  }
}

function keyOf(job: CronJob): string {
  return JSON.stringify([job.schedule, job.at, job.timezone, job.enabled]);
}
