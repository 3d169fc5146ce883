import { closeSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * File system errors that say "the gateway cannot write its state right now" rather than
 * "this request is wrong": a full disk or quota, a read-only or failing file system, a
 * file or directory it may not (or can no longer) write. They clear when the operator
 * frees space or fixes the mount.
 */
const FAULT_DESCRIPTIONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'a directory is in the way',
  ENOTDIR: 'a file is in the way of a directory',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ESTALE: 'stale network file handle',
};

/** The errno code of a storage fault, or null for any other error. */
export function storageErrnoCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code in FAULT_DESCRIPTIONS ? code : null;
}

/** "ENOSPC (no space left on device)". */
export function describeStorageFault(code: string): string {
  return `${code} (${FAULT_DESCRIPTIONS[code] ?? 'storage error'})`;
}

/**
 * Creates `dir` if needed and writes, fsyncs and removes a one-byte probe file in it.
 * Returns null when that works, else the error (a read-only or full state dir).
 */
export function probeWritable(dir: string): NodeJS.ErrnoException | null {
  const file = join(dir, `.xopc-probe.${process.pid}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(file, 'w', 0o600);
    try {
      // One byte needs a block: a full disk refuses it even where an empty file would fit.
      writeSync(fd, 'x');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
      try { unlinkSync(file); } catch { /* never created */ }
    }
    return null;
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
}
