import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** One process's memory and event-loop delay, as both the supervisor and the worker report them. */
export interface ProcessStats {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** Event-loop delay since the previous sample, in seconds. */
  eventLoopDelay: { mean: number; p99: number; max: number };
}

export interface ProcessSampler {
  /** The numbers now; the event-loop delay histogram restarts for the next sample. */
  sample(): ProcessStats;
  stop(): void;
}

// 20 ms: fine enough to see a stall that users feel, coarse enough to cost nothing.
const RESOLUTION_MS = 20;

/**
 * Samples this process with what Node has built in (no metrics library), so the
 * supervisor can report itself without loading one.
 */
export function createProcessSampler(): ProcessSampler {
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  return {
    sample() {
      const memory = process.memoryUsage();
      // The histogram reports nanoseconds between its timer's ticks: the delay is what exceeds
      // the resolution. Before its first tick it holds NaN or huge values.
      const seconds = (ns: number) => (Number.isFinite(ns) && delay.count > 0 ? Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000 : 0);
      const stats: ProcessStats = {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        heapTotalBytes: memory.heapTotal,
        eventLoopDelay: { mean: seconds(delay.mean), p99: seconds(delay.percentile(99)), max: seconds(delay.max) },
      };
      delay.reset();
      return stats;
    },
    stop: () => delay.disable(),
  };
}
