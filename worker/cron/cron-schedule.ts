import { createRequire } from 'node:module';
import type { Cron, CronOptions } from 'croner';

// croner loads on first use (a job created, listed or scheduled), not while the worker
// starts: a gateway without cron jobs never needs it. require() keeps the callers synchronous.
const requireModule = createRequire(import.meta.url);
let CronConstructor: typeof Cron | undefined;
function newCron(pattern: string, options: CronOptions): Cron {
  CronConstructor ??= (requireModule('croner') as typeof import('croner')).Cron;
  return new CronConstructor(pattern, options);
}

/**
 * When a job fires, computed by croner: 5-field expressions (minute precision), 6-field
 * ones (seconds first), nicknames such as `@daily`, each read in an IANA time zone; or a
 * single `at` time. Croner only computes times here; the scheduler owns the timers, so
 * it always knows which occurrence a run stands for.
 */
export interface Timing {
  /** The first occurrence strictly after `after`; null when there is none (a spent one-shot). */
  next(after: Date): Date | null;
  /** The latest occurrence in (`after`, `upTo`]; null when none falls in it. */
  latest(after: Date, upTo: Date): Date | null;
  /** Up to `limit` occurrences in (`after`, `before`), newest first. */
  between(after: Date, before: Date, limit: number): Date[];
}

/** A schedule, expression or time zone the user must fix; the message says what is wrong. */
export class TimingError extends Error {
  override name = 'TimingError';
}

/** The machine's IANA time zone, the default for new jobs. */
export function machineTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Throws TimingError unless `timeZone` is an IANA name this runtime knows. */
export function checkTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new TimingError(`Unknown time zone "${clip(timeZone)}": use an IANA name such as "Europe/Paris", "America/New_York" or "UTC"`);
  }
}

/** Parses a recurring job's expression; throws TimingError with croner's reason when it is invalid or never fires. */
export function cronTiming(expression: string, timeZone: string): Timing {
  checkTimeZone(timeZone);
  // croner reads any string with a colon as a date, not a pattern.
  if (expression.includes(':')) {
    throw new TimingError(`Invalid cron expression "${clip(expression)}": it looks like a date; use "at" for a one-shot job`);
  }
  let cron: Cron;
  try {
    cron = newCron(expression, { timezone: timeZone, mode: '5-or-6-parts', paused: true });
  } catch (err) {
    const reason = (err as Error).message.replace(/^CronPattern:\s*/, '');
    throw new TimingError(`Invalid cron expression "${clip(expression)}": ${reason} (use 5 fields "minute hour day month weekday", or 6 with seconds first)`);
  }
  if (!cron.nextRun()) throw new TimingError(`Cron expression "${clip(expression)}" never fires`);
  return {
    next: (after) => cron.nextRun(after),
    latest(after, upTo) {
      // previousRuns looks strictly before its reference, in whole seconds.
      const [previous] = cron.previousRuns(1, new Date(Math.floor(upTo.getTime() / 1000) * 1000 + 1000));
      return previous && previous.getTime() > after.getTime() && previous.getTime() <= upTo.getTime() ? previous : null;
    },
    between: (after, before, limit) => cron.previousRuns(limit, before).filter((time) => time.getTime() > after.getTime() && time.getTime() < before.getTime()),
  };
}

/** A one-shot job's timing. */
export function onceTiming(at: Date): Timing {
  return {
    next: (after) => (at.getTime() > after.getTime() ? at : null),
    latest: (after, upTo) => (at.getTime() > after.getTime() && at.getTime() <= upTo.getTime() ? at : null),
    between: () => [],
  };
}

// 2025-03-01T09:30, 2025-03-01 09:30:15.250, 2025-03-01T09:30:00+08:00, ...Z
const ISO_DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Reads an `at` time: ISO 8601 with a date and a time. With an offset (or Z) it is that
 * instant; without one it is wall-clock time in `timeZone`.
 */
export function parseAt(text: string, timeZone: string): Date {
  checkTimeZone(timeZone);
  const match = ISO_DATE_TIME.exec(text.trim());
  if (!match) throw new TimingError(`Invalid "at" time "${clip(text)}": use ISO 8601 such as "2030-01-31T09:00" or "2030-01-31T09:00:00Z"`);
  const [, date, time, offset] = match;
  const iso = `${date}T${time}${offset ?? ''}`;
  if (offset) {
    const instant = new Date(iso.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
    if (Number.isNaN(instant.getTime())) throw new TimingError(`Invalid "at" time "${clip(text)}"`);
    return instant;
  }
  if (Number.isNaN(Date.parse(iso))) throw new TimingError(`Invalid "at" time "${clip(text)}"`);
  try {
    const once = newCron(iso, { timezone: timeZone, paused: true }).getOnce();
    if (once && !Number.isNaN(once.getTime())) return once;
  } catch {
    /* reported below */
  }
  throw new TimingError(`Invalid "at" time "${clip(text)}"`);
}

/** The timing of a stored job. */
export function jobTiming(job: { schedule: string | null; at: string | null; timezone: string }): Timing {
  if (job.at !== null) return onceTiming(new Date(job.at));
  if (job.schedule !== null) return cronTiming(job.schedule, job.timezone);
  throw new TimingError('Job has neither a schedule nor an "at" time');
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
