import { cpus, loadavg, release, totalmem } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';

/** The value at percentile `p` (0-100) of already sorted samples (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(samples: number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, min: sorted[0] ?? Number.NaN, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** A number for a table: fixed decimals, NaN as a dash. */
export function fmt(value: number, decimals = 1): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : '-';
}

/** Prints rows as a Markdown table (so a run's output can be pasted into BENCHMARKS.md). */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** `node --test` runs and other benchmark-like processes on this machine right now (other than us). */
export function otherTestProcesses(): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (/node .*--test/.test(cmdline)) count++;
    } catch {
      /* gone */
    }
  }
  return count;
}

/** One line naming the machine and how busy it was, printed at the top of every benchmark. */
export function machineLine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'unknown cpu';
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `machine: ${cores.length} cores (${model}), ${Math.round(totalmem() / 2 ** 30)} GB RAM, Linux ${release()}, node ${process.version}; load avg ${load}; other node --test processes: ${otherTestProcesses()}`;
}
