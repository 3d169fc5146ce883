import { closeSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isRunning, processStartTime } from '../../src/proc.js';

/**
 * What keeps two processes on one cron dir (the old and the new worker of a restart, a
 * worker and the one that replaced it after a crash) from doing the same thing twice.
 * Both primitives are files created with O_EXCL, so the kernel decides who wins; nothing
 * here is a read-then-write.
 *
 * - An occurrence claim, `claims/<jobId>/<epoch ms>`: whoever creates it runs that
 *   occurrence; nobody else ever will. Claims are never removed while they matter (the
 *   newest CLAIMS_KEPT of a job stay).
 * - A job lock, `.<jobId>.lock`, held for the few milliseconds of one synchronous
 *   read-modify-write of the job file, so that a run recorded by one process is never
 *   overwritten by a change another process computed from an older copy. A lock whose
 *   holder died is broken by whoever finds it (checked by pid and process start time).
 */

const CLAIMS_DIR = 'claims';
/** Claims kept per job; older occurrences are also guarded by the job's `handledThrough`. */
const CLAIMS_KEPT = 50;
// A job lock is held for one synchronous read-modify-write (milliseconds); waiting this
// long for one means its holder is stuck (a stopped process), which is reported.
const LOCK_WAIT_MS = 5000;
// A lock file created but not written yet (its holder between open and write).
const EMPTY_LOCK_GRACE_MS = 2000;

interface Holder {
  pid: number;
  startTime: number | null;
}

const self = (): Holder => ({ pid: process.pid, startTime: processStartTime(process.pid) });

/** Claims occurrence `at` of job `id` for this process; false when someone already has. */
export function claimOccurrence(dir: string, id: string, at: Date, runId: string): boolean {
  const jobDir = join(dir, CLAIMS_DIR, id);
  mkdirSync(jobDir, { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(join(jobDir, String(at.getTime())), 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify({ ...self(), runId, claimedAt: new Date().toISOString() }) + '\n');
  } finally {
    closeSync(fd);
  }
  pruneClaims(jobDir);
  return true;
}

/** Forgets a deleted job's claims. */
export function removeClaims(dir: string, id: string): void {
  rmSync(join(dir, CLAIMS_DIR, id), { recursive: true, force: true });
}

function pruneClaims(jobDir: string): void {
  let names: string[];
  try {
    names = readdirSync(jobDir).filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  if (names.length <= CLAIMS_KEPT) return;
  const oldest = names.map(Number).sort((a, b) => a - b).slice(0, names.length - CLAIMS_KEPT);
  for (const epoch of oldest) {
    try {
      unlinkSync(join(jobDir, String(epoch)));
    } catch {
      /* pruned by the other process */
    }
  }
}

/** Runs `change` while holding job `id`'s lock (see the top of this file). `change` must be synchronous. */
export function withJobLock<T>(dir: string, id: string, change: () => T): T {
  const file = join(dir, `.${id}.lock`);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(self()));
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (breakIfAbandoned(file)) continue;
    if (Date.now() > deadline) throw new Error(`cron job ${id} stayed locked by another process for ${LOCK_WAIT_MS} ms (${file})`);
    sleepSync(5);
  }
  try {
    return change();
  } finally {
    try {
      unlinkSync(file);
    } catch {
      /* broken by someone who judged us dead: nothing left to release */
    }
  }
}

/**
 * Removes a lock whose holder is gone. It is first renamed to a name of our own, so two
 * processes breaking it at once cannot remove a lock a third one took meanwhile: if what
 * we moved is not what we judged, it goes back.
 */
function breakIfAbandoned(file: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return true; // released meanwhile: take it
  }
  const holder = parseHolder(text);
  if (holder && holderAlive(holder)) return false;
  if (!holder) {
    // Empty or unreadable: its writer may be between open and write; give it a moment.
    try {
      if (Date.now() - statSync(file).mtimeMs <= EMPTY_LOCK_GRACE_MS) return false;
    } catch {
      return true;
    }
  }
  const moved = `${file}.${process.pid}.broken`;
  try {
    renameSync(file, moved);
  } catch {
    return true; // gone already: try to take it again
  }
  if (readFileSync(moved, 'utf8') !== text) {
    try {
      linkSync(moved, file);
    } catch {
      /* taken again meanwhile; the holder we moved keeps the lock for its last milliseconds */
    }
  }
  unlinkSync(moved);
  return true;
}

function parseHolder(text: string): Holder | null {
  try {
    const holder = JSON.parse(text) as Holder;
    return Number.isInteger(holder?.pid) ? holder : null;
  } catch {
    return null;
  }
}

/** Whether the process that wrote a lock or a run marker is still the same live process. */
export function holderAlive(holder: { pid: number; startTime?: number | null; pidStartTime?: number | null }): boolean {
  if (!isRunning(holder.pid)) return false;
  const recorded = holder.startTime ?? holder.pidStartTime ?? null;
  return recorded === null || processStartTime(holder.pid) === recorded;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
