import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/atomic-write.js';
import type { Logger } from '../../src/logger.js';
import type { CronRunner, Occurrence } from './cron-runner.js';
import { jobTiming, type Timing } from './cron-schedule.js';
import type { CronStore } from './cron-store.js';
import { HISTORY_LIMIT, type CronJob } from './cron-types.js';

/**
 * The timers. Only the worker that owns background services runs them (between `start`
 * and `stop`, SPEC 3 handover rule), so a restart never has two workers firing; claims
 * on occurrences (cron-claims.ts) make sure of it even when two processes try.
 *
 * Missed runs: each job remembers `handledThrough`, the time up to which every
 * occurrence was dealt with; it is written in the same locked write that claims a run,
 * before the agent is called. An occurrence is never dropped because the job could not
 * run at that moment. One that fell while the job's previous run was going (here, or in
 * the worker handing over during a restart) runs after it, late; a backlog runs oldest
 * first, at most MAX_OWED owed at once (older ones are covered). Occurrences that fell
 * while no scheduler ran (after the previous one recorded its stop) get one catch-up run
 * for the latest of them. Covered occurrences are listed in the job's `skipped`. Jobs
 * that owe nothing do not run. A job that was disabled owes nothing for that time:
 * enabling it moves `handledThrough` to now.
 */
export interface CronScheduler {
  /** Takes over: finishes runs left by stopped workers, runs the catch-ups owed, arms every enabled job, watches the dir. */
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
// While another worker's run of a job is going (a restart handing over), how often to look
// whether it has finished, or its worker has stopped and left the run to us.
const FOREIGN_RUN_POLL_MS = 100;
// Occurrences listed as skipped when one run covers many (the list keeps HISTORY_LIMIT anyway).
const COVERED_LISTED = HISTORY_LIMIT;
// While the gateway runs, occurrences that fell during a run (or a restart) run afterwards,
// late, oldest first; a job slower than its period would queue without end, so at most
// this many are owed and older ones are covered by the oldest of them.
const MAX_OWED = 5;
// Written when a scheduler stops: until when occurrences were some scheduler's to run.
const OWNER_FILE = '.scheduler-stopped.json';

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
  /** Until when the previous owner of the timers ran them (epoch ms; 0 when unknown, as after a crash). */
  let previousOwnerUntil = 0;
  const ownerFile = join(store.dir, OWNER_FILE);

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

  /**
   * Runs the occurrence a job owes now, if any, then arms its next one. `catch-up` (when
   * the scheduler starts): one run for the latest occurrence owed, covering the earlier
   * ones. `due` (timers, the end of a run): the oldest occurrence owed, the others after it
   * one at a time; beyond MAX_OWED the oldest are covered. While the job's previous run is
   * going the occurrence stays owed: this worker's run calls `refresh` when it has been
   * recorded; another worker's is polled for.
   */
  function sync(job: CronJob, mode: 'catch-up' | 'due'): void {
    disarm(job.id);
    let timing: Timing | null = null;
    if (job.enabled) {
      try {
        timing = jobTiming(job);
      } catch (err) {
        logger.error({ err, jobId: job.id }, 'cron job has an unusable schedule: it will not run until it is fixed');
      }
    }
    const occurrence = timing ? owed(timing, new Date(job.handledThrough), mode) : null;
    if (!occurrence && !job.running) {
      if (timing) arm(job, timing);
      return;
    }
    const outcome = occurrence
      ? runner.start(job.id, mode === 'catch-up' ? 'catch-up' : 'schedule', occurrence)
      : runner.resume(job.id);
    switch (outcome.status) {
      case 'missing':
      case 'resumed':
        return;
      case 'busy':
        if (!outcome.here) setTimer(job.id, 'wait', FOREIGN_RUN_POLL_MS, () => fire(job.id));
        else if (!occurrence && timing) arm(job, timing);
        return;
      default:
        if (outcome.job.enabled && timing) arm(outcome.job, timing);
    }
  }

  /** The occurrence to run now and those it covers (see sync), or null when nothing is owed. */
  function owed(timing: Timing, handled: Date, mode: 'catch-up' | 'due'): Occurrence | null {
    const latest = timing.latest(handled, new Date(now()));
    if (!latest) return null;
    const pending = [latest, ...timing.between(handled, latest, MAX_OWED - 1 + COVERED_LISTED)];
    // Only what fell while no scheduler ran is caught up with one run; a backlog the
    // previous owner left (runs late because of a slow run or the restart) is run in order.
    if (mode === 'catch-up' && pending.at(-1)!.getTime() > previousOwnerUntil) return { due: latest, covers: pending.slice(1, 1 + COVERED_LISTED) };
    if (pending.length <= MAX_OWED) return { due: pending.at(-1)!, covers: [] };
    return { due: pending[MAX_OWED - 1]!, covers: pending.slice(MAX_OWED) };
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
      if (job) sync(job, 'due');
    } catch (err) {
      logger.error({ err, jobId: id, retryInMs: RETRY_MS }, 'cron job could not be read or claimed; trying again later');
      setTimer(id, 'retry', RETRY_MS, () => fire(id));
    }
  }

  /** Brings the timers in line with the files: new, changed and deleted jobs (also those changed by another worker). */
  function reconcile(mode: 'catch-up' | 'due' = 'due'): void {
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
        sync(job, mode);
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
    poller = setInterval(() => reconcile(), POLL_FALLBACK_MS);
    poller.unref();
  }

  return {
    start() {
      if (active) return;
      active = true;
      previousOwnerUntil = readOwnerUntil(ownerFile);
      reconcile('catch-up');
      watchDir();
      logger.info({ jobs: armed.size }, 'cron scheduler started');
    },
    stop() {
      if (!active) return;
      active = false;
      for (const id of [...armed.keys()]) disarm(id);
      writeOwnerUntil(ownerFile, now(), logger);
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
        if (job) sync(job, 'due');
        else disarm(id);
      } catch (err) {
        logger.error({ err, jobId: id }, 'cron job could not be rescheduled; trying again later');
        setTimer(id, 'retry', RETRY_MS, () => fire(id));
      }
    },
    isActive: () => active,
  };
}

function readOwnerUntil(file: string): number {
  try {
    const until = (JSON.parse(readFileSync(file, 'utf8')) as { stoppedAt?: unknown }).stoppedAt;
    return typeof until === 'number' ? until : 0;
  } catch {
    return 0;
  }
}

function writeOwnerUntil(file: string, stoppedAt: number, logger: Logger): void {
  try {
    writeFileAtomic(file, JSON.stringify({ stoppedAt, pid: process.pid }) + '\n');
  } catch (err) {
    logger.warn({ err }, 'could not record when the cron timers stopped; the next owner treats what it owes as missed downtime');
  }
}

function keyOf(job: CronJob): string {
  return JSON.stringify([job.schedule, job.at, job.timezone, job.enabled]);
}
