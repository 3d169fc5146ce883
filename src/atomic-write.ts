import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Replaces `file` with `data` so that a reader (or a crash) sees either the old
 * content or the new one, never a mix: write a temp file beside it, fsync, rename,
 * then fsync the directory so the rename itself survives a power cut.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    const buffer = typeof data === 'string' ? Buffer.from(data) : data;
    // A short write is retried: the next one continues or says why (ENOSPC); a file cut
    // short must never be renamed into place.
    for (let offset = 0; offset < buffer.length;) {
      const written = writeSync(fd, buffer, offset, buffer.length - offset);
      if (written === 0) throw Object.assign(new Error(`no space left on device writing ${tmp}`), { code: 'ENOSPC' });
      offset += written;
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    try { closeSync(fd); } catch { /* closed already */ }
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  fsyncDir(dir);
}

/** fsync a directory; some platforms (Windows) cannot open one, which is fine to ignore. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported here */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
