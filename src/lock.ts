import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import lockfile from 'lockfile';
import { fsyncDir } from './atomic-write.js';
import { isRunning, processStartTime } from './proc.js';

/** What the lock file holds. `pid` is the supervisor; the rest helps `status` and `stop`. */
export interface LockInfo {
  pid: number;
  createdAt: string;
  configPath: string;
  /** Process start time (clock ticks since boot, Linux), to tell a reused pid from its first owner. */
  startTime: number | null;
  host?: string;
  port?: number;
  workerPid?: number | null;
  /** The loaded standby worker that waits to take over (gateway.worker.standby). */
  standbyPid?: number | null;
  /** The control channel's path (src/control.ts). */
  control?: string;
}

/**
 * `stale`: its owner is shown to be gone (its pid is dead, or belongs to a newer process).
 * `unreadable`: garbage, truncated, or no pid: whose it is cannot be told from the file, so
 * it is not "no gateway" until src/lock-owner.ts finds none.
 */
export type LockState =
  | { state: 'free' }
  | { state: 'held'; info: LockInfo }
  | { state: 'stale'; info: LockInfo; reason: string }
  | { state: 'unreadable'; reason: string; raw: string };

// A lock file that exists but is still empty is being created right now (lockfile
// creates it, then we write the JSON); it is only treated as stale after this long.
const EMPTY_LOCK_GRACE_MS = 2000;

/** Reads the lock and judges it: free, held by a live owner, stale (dead or reused pid), or unreadable. */
export function readLock(path: string): LockState {
  let text: string;
  let mtimeMs = 0;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
    throw err;
  }
  if (text.trim() === '') {
    try { mtimeMs = statSync(path).mtimeMs; } catch { return { state: 'free' }; }
    if (Date.now() - mtimeMs < EMPTY_LOCK_GRACE_MS) return { state: 'held', info: { pid: 0, createdAt: '', configPath: '', startTime: null } };
    return { state: 'unreadable', reason: 'lock file is empty', raw: text };
  }
  let info: LockInfo;
  try {
    info = JSON.parse(text) as LockInfo;
  } catch {
    return { state: 'unreadable', reason: 'lock file is not valid JSON', raw: text };
  }
  if (!info || typeof info !== 'object' || !Number.isInteger(info.pid) || info.pid <= 0) return { state: 'unreadable', reason: 'lock file has no valid pid', raw: text };
  if (!isRunning(info.pid)) return { state: 'stale', info, reason: `process ${info.pid} is not running` };
  const startTime = processStartTime(info.pid);
  if (info.startTime != null && startTime != null && startTime !== info.startTime) {
    return { state: 'stale', info, reason: `pid ${info.pid} now belongs to another process (start time differs)` };
  }
  return { state: 'held', info };
}


export type AcquireResult =
  | { ok: true; tookOver: { info: LockInfo; reason: string } | null }
  | { ok: false; holder: LockInfo }
  /** The lock cannot be read: the caller looks for a live gateway (src/lock-owner.ts) before removing it. */
  | { ok: false; unreadable: { reason: string; raw: string } };

/**
 * Creates the lock exclusively (the `lockfile` package, O_EXCL) and writes our JSON into it.
 * A stale lock is removed and taken over, under a second short-lived lock so two starters
 * cannot both delete and re-create it. An unreadable one is left to the caller.
 */
export function acquireLock(path: string, info: LockInfo): AcquireResult {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let tookOver: { info: LockInfo; reason: string } | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      lockfile.lockSync(path);
      writeLockInfo(path, info);
      return { ok: true, tookOver };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = readLock(path);
    if (current.state === 'held') {
      if (current.info.pid === 0) {
        // Being created by someone else this very moment: give them a moment to write it.
        sleepSync(100);
        continue;
      }
      return { ok: false, holder: current.info };
    }
    if (current.state === 'unreadable') return { ok: false, unreadable: { reason: current.reason, raw: current.raw } };
    if (current.state === 'stale') {
      if (removeIfStillStale(path, current)) tookOver = { info: current.info, reason: current.reason };
    }
  }
  const last = readLock(path);
  if (last.state === 'unreadable') return { ok: false, unreadable: { reason: last.reason, raw: last.raw } };
  return { ok: false, holder: last.state === 'held' ? last.info : { pid: 0, createdAt: '', configPath: '', startTime: null } };
}

function removeIfStillStale(path: string, seen: LockState & { state: 'stale' }): boolean {
  return underTakeoverGuard(path, () => {
    const again = readLock(path);
    return again.state === 'stale' && again.info.pid === seen.info.pid;
  });
}

/**
 * Removes an unreadable lock once the caller found no live gateway for it (src/lock-owner.ts),
 * only if it still holds what was judged: a lock written meanwhile is someone's.
 */
export function removeUnreadableLock(path: string, raw: string): boolean {
  return underTakeoverGuard(path, () => {
    const again = readLock(path);
    return again.state === 'unreadable' && again.raw === raw;
  });
}

/** Removes the lock if `stillRemovable` says so, under a short-lived second lock so two removers cannot race. */
function underTakeoverGuard(path: string, stillRemovable: () => boolean): boolean {
  const guard = `${path}.takeover`;
  try {
    // stale: a takeover that crashed half-way must not block forever.
    lockfile.lockSync(guard, { stale: 5000 });
  } catch {
    return false; // someone else is taking it over right now
  }
  try {
    if (!stillRemovable()) return false;
    lockfile.unlockSync(path);
    return true;
  } finally {
    lockfile.unlockSync(guard);
  }
}

/** Rewrites the lock content atomically (owner only), e.g. to record the port or the worker pid. */
export function writeLockInfo(path: string, info: LockInfo): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}

/**
 * Removes the lock if this process owns it (lockfile also removes it when the process
 * exits). A lock another live process holds is left alone; one that became unreadable
 * while we held it is ours to remove (we took it, and nobody took it from us).
 */
export function releaseLock(path: string, ownerPid = process.pid): void {
  const current = readLock(path);
  if (current.state === 'held' && current.info.pid !== ownerPid) return;
  lockfile.unlockSync(path);
}

/** The lock payload for this process. */
export function lockInfoForSelf(configPath: string, extra: Partial<LockInfo> = {}): LockInfo {
  return { pid: process.pid, createdAt: new Date().toISOString(), configPath, startTime: processStartTime(process.pid), ...extra };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Removes the lock only when it is stale: its owner is shown to be gone (dead or reused pid). */
export function removeStaleLock(path: string): boolean {
  const current = readLock(path);
  if (current.state !== 'stale') return false;
  return removeIfStillStale(path, current);
}
