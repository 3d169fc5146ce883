import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../src/logger.js';

/**
 * Removes the files in `dir` last modified more than `ttlMs` before `now`; returns how many
 * went. A file another process removes meanwhile is skipped, not an error.
 */
export async function sweepExpired(dir: string, ttlMs: number, now: number = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile() || now - info.mtimeMs <= ttlMs) continue;
    if (await unlink(file).then(() => true, () => false)) removed++;
  }
  return removed;
}

export interface SweeperOptions {
  dir: string;
  ttlMs: number;
  /** Least time between two sweeps. */
  everyMs: number;
  logger: Logger;
  /** What the files are, for the log line of a failed sweep ("expired idempotency keys"). */
  what: string;
  now?: () => number;
}

/**
 * A sweep of expired files for a store that is used often: calling the returned function
 * starts one in the background at most every `everyMs`; a failure is logged and the next
 * call after `everyMs` tries again.
 */
export function createSweeper(options: SweeperOptions): () => void {
  const { dir, ttlMs, everyMs, logger, what } = options;
  const now = options.now ?? Date.now;
  let lastSweep = 0;
  return () => {
    if (now() - lastSweep < everyMs) return;
    lastSweep = now();
    sweepExpired(dir, ttlMs, now()).catch((err: unknown) => logger.warn({ err, dir }, `sweeping ${what} failed; retrying later`));
  };
}
