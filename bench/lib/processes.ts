import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resident set size of a process in MB (VmRSS), or NaN if it is gone. */
export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system) a process has used so far, in ms (Linux clock ticks are 10 ms). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/**
 * Waits until the processes use less than `maxPercent` of one core over a 500 ms window
 * (so a benchmark round does not start while the previous one's work is still running);
 * bounded by `timeoutMs`. Resolves with the ms waited.
 */
export async function waitForIdle(pids: number[], { maxPercent = 5, timeoutMs = 30_000 } = {}): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const before = pids.map(cpuMs);
    await sleep(500);
    const used = pids.map((pid, i) => cpuMs(pid) - before[i]!).filter(Number.isFinite).reduce((a, b) => a + b, 0);
    if ((used / 500) * 100 < maxPercent) return Date.now() - started;
  }
  return Date.now() - started;
}
