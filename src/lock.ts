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
  /** The control channel's path (src/control.ts). */
  control?: string;
}

export type LockState =
  | { state: 'free' }
  | { state: 'held'; info: LockInfo }
  | { state: 'stale'; info: LockInfo | null; reason: string };

// A lock file that exists but is still empty is being created right now (lockfile
// creates it, then we write the JSON); it is only treated as stale after this long.
const EMPTY_LOCK_GRACE_MS = 2000;

/** Reads the lock and judges it: free, held by a live owner, or stale (dead or reused pid, garbage). */
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
    return { state: 'stale', info: null, reason: 'lock file is empty' };
  }
  let info: LockInfo;
  try {
    info = JSON.parse(text) as LockInfo;
  } catch {
    return { state: 'stale', info: null, reason: 'lock file is not valid JSON' };
  }
  if (!Number.isInteger(info.pid) || info.pid <= 0) return { state: 'stale', info, reason: 'lock file has no valid pid' };
  if (!isRunning(info.pid)) return { state: 'stale', info, reason: `process ${info.pid} is not running` };
  const startTime = processStartTime(info.pid);
  if (info.startTime != null && startTime != null && startTime !== info.startTime) {
    return { state: 'stale', info, reason: `pid ${info.pid} now belongs to another process (start time differs)` };
  }
  return { state: 'held', info };
}


export type AcquireResult =
  | { ok: true; tookOver: { info: LockInfo | null; reason: string } | null }
  | { ok: false; holder: LockInfo };

/**
 * Creates the lock exclusively (the `lockfile` package, O_EXCL) and writes our JSON into it.
 * A stale lock is removed and taken over, under a second short-lived lock so two starters
 * cannot both delete and re-create it.
 */
export function acquireLock(path: string, info: LockInfo): AcquireResult {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let tookOver: { info: LockInfo | null; reason: string } | null = null;
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
    if (current.state === 'stale') {
      if (removeIfStillStale(path, current)) tookOver = { info: current.info, reason: current.reason };
    }
  }
  const last = readLock(path);
  return { ok: false, holder: last.state === 'held' ? last.info : { pid: 0, createdAt: '', configPath: '', startTime: null } };
}

function removeIfStillStale(path: string, seen: LockState & { state: 'stale' }): boolean {
  const guard = `${path}.takeover`;
  try {
    // stale: a takeover that crashed half-way must not block forever.
    lockfile.lockSync(guard, { stale: 5000 });
  } catch {
    return false; // someone else is taking it over right now
  }
  try {
    const again = readLock(path);
    if (again.state !== 'stale' || again.info?.pid !== seen.info?.pid) return false;
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

/** Removes the lock if this process owns it (lockfile also removes it when the process exits). */
export function releaseLock(path: string, ownerPid = process.pid): void {
  const current = readLock(path);
  if (current.state !== 'free' && current.info && current.info.pid !== ownerPid && current.state === 'held') return;
  lockfile.unlockSync(path);
}

/** The lock payload for this process. */
export function lockInfoForSelf(configPath: string, extra: Partial<LockInfo> = {}): LockInfo {
  return { pid: process.pid, createdAt: new Date().toISOString(), configPath, startTime: processStartTime(process.pid), ...extra };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Removes the lock unless a live gateway holds it (after its owner died or was killed). */
export function removeStaleLock(path: string): boolean {
  if (readLock(path).state === 'held') return false;
  lockfile.unlockSync(path);
  return true;
}
