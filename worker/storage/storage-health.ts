import { dirname, isAbsolute, relative } from 'node:path';
import type { Logger } from '../../src/logger.js';
import { probeWritable } from '../../src/storage-errors.js';
import { describeStorageFault, storageFaultCode } from './storage-fault.js';

/** What GET /health reports about the state dir. */
export type StorageState =
  | { ok: true }
  | { ok: false; reason: string; code: string; since: string };

/**
 * Whether the gateway can write its state. Any part that meets a storage fault reports
 * it here; from then on a small probe file is written (and fsync'd, and removed) in the
 * directory that failed every PROBE_INTERVAL_MS, and the first probe that succeeds makes
 * the state healthy again, so the gateway resumes by itself once space returns.
 */
export interface StorageHealth {
  /** Reports an error; ignored unless it is a storage fault. Returns whether it was one. */
  report(err: unknown): boolean;
  state(): StorageState;
  /** Called each time the state dir becomes writable again (retries waiting for it go at once). */
  onRecovered(listener: () => void): void;
  /** Stops probing (worker exit). */
  close(): void;
}

export interface StorageHealthOptions {
  stateDir: string;
  logger: Logger;
  probeIntervalMs?: number;
}

const PROBE_INTERVAL_MS = 2000;
// The same fault seen again this soon after it cleared (a fault the probe cannot see, such
// as one file made unwritable) is logged at debug, not as a new warning.
const REPEAT_WARN_MS = 60_000;

export function createStorageHealth(options: StorageHealthOptions): StorageHealth {
  const { stateDir } = options;
  const logger = options.logger.child({ component: 'storage' });
  const interval = options.probeIntervalMs ?? PROBE_INTERVAL_MS;
  let fault: { reason: string; code: string; since: string; dir: string } | null = null;
  let timer: NodeJS.Timeout | null = null;
  let lastWarned = { key: '', at: 0 };
  const listeners: Array<() => void> = [];

  function probe(): void {
    if (!fault) return;
    if (probeWritable(fault.dir)) return;
    logger.info({ dir: fault.dir, downSince: fault.since }, 'state dir is writable again; work kept for it resumes');
    fault = null;
    if (timer) clearInterval(timer);
    timer = null;
    for (const listener of listeners) listener();
  }

  return {
    report(err) {
      const code = storageFaultCode(err);
      if (!code) return false;
      if (fault) return true;
      fault = { code, reason: `cannot write the state dir: ${describeStorageFault(code)}`, since: new Date().toISOString(), dir: faultDir(err, stateDir) };
      const key = `${code} ${fault.dir}`;
      const repeat = lastWarned.key === key && Date.now() - lastWarned.at < REPEAT_WARN_MS;
      lastWarned = { key, at: Date.now() };
      logger[repeat ? 'debug' : 'warn']({ err, dir: fault.dir }, `the gateway cannot write its state (${describeStorageFault(code)}); writes answer STORAGE_UNAVAILABLE and accepted messages wait until it can`);
      timer = setInterval(probe, interval);
      timer.unref();
      return true;
    },
    onRecovered(listener) {
      listeners.push(listener);
    },
    state() {
      return fault ? { ok: false, reason: fault.reason, code: fault.code, since: fault.since } : { ok: true };
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

/** The directory to probe: the failed file's own, when it is inside the state dir. */
function faultDir(err: unknown, stateDir: string): string {
  const path = (err as { path?: unknown; cause?: { path?: unknown } } | null)?.path ?? (err as { cause?: { path?: unknown } } | null)?.cause?.path;
  if (typeof path !== 'string') return stateDir;
  const dir = dirname(path);
  const inside = relative(stateDir, dir);
  return !inside.startsWith('..') && !isAbsolute(inside) ? dir : stateDir;
}
