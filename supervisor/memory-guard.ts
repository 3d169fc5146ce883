/** Reports in a row above the limit before the worker is replaced: one spike is not growth. */
export const REPORTS_OVER_LIMIT = 3;

export interface GuardLimits {
  /** RSS bound in bytes, or null for none. */
  maxRssBytes: number | null;
  /** Age bound in ms, or null for none. */
  maxAgeMs: number | null;
}

export type GuardVerdict =
  | { action: 'none' }
  | { action: 'recycle'; reason: 'memory' | 'age'; detail: string }
  /** The worker was over the limit from its first report: the limit is too low for it, not a leak. */
  | { action: 'over-at-start'; detail: string };

interface WorkerRecord {
  startedAt: number;
  reports: number;
  over: number;
  /** Counting reports over the limit only once the worker has been below it. */
  armed: boolean;
  verdictGiven: boolean;
}

/**
 * Decides when a worker should be replaced because it holds too much memory for too
 * long, or has run for too long. A worker over the limit from its very first report is
 * reported (once for the supervisor's life, not once per worker) and not recycled: a new
 * worker would be over it too, and replacing it would loop.
 */
export function createMemoryGuard(limits: () => GuardLimits) {
  const workers = new Map<number, WorkerRecord>();
  let reportedOverAtStart = false;
  return {
    /** A new worker (pid) started now. */
    started(pid: number, now = Date.now()): void {
      workers.set(pid, { startedAt: now, reports: 0, over: 0, armed: false, verdictGiven: false });
    },
    exited(pid: number): void {
      workers.delete(pid);
    },
    /** One RSS report of the current worker; returns what to do about it (at most one recycle per worker). */
    report(pid: number, rssBytes: number, now = Date.now()): GuardVerdict {
      const record = workers.get(pid);
      if (!record || record.verdictGiven) return { action: 'none' };
      const { maxRssBytes, maxAgeMs } = limits();
      record.reports++;
      if (maxAgeMs !== null && now - record.startedAt >= maxAgeMs) {
        record.verdictGiven = true;
        return { action: 'recycle', reason: 'age', detail: `ran ${formatHours(now - record.startedAt)} (gateway.worker.maxAgeHours ${formatHours(maxAgeMs)})` };
      }
      if (maxRssBytes === null) return { action: 'none' };
      const overNow = rssBytes > maxRssBytes;
      const detail = `RSS ${mb(rssBytes)} MB, gateway.worker.maxRssMb ${mb(maxRssBytes)}`;
      if (!overNow) {
        record.armed = true;
        record.over = 0;
        return { action: 'none' };
      }
      if (!record.armed) {
        if (record.reports > 1 || reportedOverAtStart) return { action: 'none' };
        reportedOverAtStart = true;
        return { action: 'over-at-start', detail };
      }
      record.over++;
      if (record.over < REPORTS_OVER_LIMIT) return { action: 'none' };
      record.verdictGiven = true;
      return { action: 'recycle', reason: 'memory', detail: `${detail}, for ${REPORTS_OVER_LIMIT} reports in a row` };
    },
  };
}

export type MemoryGuard = ReturnType<typeof createMemoryGuard>;

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

function formatHours(ms: number): string {
  const hours = ms / 3_600_000;
  return hours >= 1 ? `${hours.toFixed(1)} h` : `${Math.round(ms / 1000)} s`;
}
