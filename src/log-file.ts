import { closeSync, fstatSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface RotatingFileOptions {
  path: string;
  /** Rotate when the current file would grow past this many bytes. */
  maxBytes: number;
  /** How many rotated files (`<path>.1` .. `<path>.N`) to keep. */
  maxFiles: number;
}

export interface RotatingFile {
  write(chunk: string | Buffer): void;
  close(): void;
}

// How often to check that the path still names our open file (another process —
// the other supervisor during a respawn handover — may have rotated it).
const REOPEN_CHECK_MS = 1000;

/**
 * An append-only log file rotated by size: `gateway.log` -> `gateway.log.1` -> ... ->
 * `gateway.log.N` (deleted). Writes are synchronous appends (O_APPEND), so lines from
 * two processes never interleave inside a line and nothing is lost at exit.
 */
export function createRotatingFile(options: RotatingFileOptions): RotatingFile {
  const { path, maxBytes, maxFiles } = options;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let fd = openSync(path, 'a', 0o600);
  let size = fstatSync(fd).size;
  let inode = fstatSync(fd).ino;
  let lastCheck = Date.now();

  function reopen(): void {
    try { closeSync(fd); } catch { /* already closed */ }
    fd = openSync(path, 'a', 0o600);
    const stat = fstatSync(fd);
    size = stat.size;
    inode = stat.ino;
  }

  function rotate(): void {
    try { unlinkSync(`${path}.${maxFiles}`); } catch { /* not there */ }
    for (let i = maxFiles - 1; i >= 1; i--) {
      try { renameSync(`${path}.${i}`, `${path}.${i + 1}`); } catch { /* gap */ }
    }
    try { renameSync(path, `${path}.1`); } catch { /* someone else rotated */ }
    reopen();
  }

  return {
    write(chunk) {
      const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      const now = Date.now();
      if (now - lastCheck > REOPEN_CHECK_MS) {
        lastCheck = now;
        try {
          if (statSync(path).ino !== inode) reopen();
        } catch {
          reopen();
        }
      }
      if (size > 0 && size + bytes > maxBytes) rotate();
      writeSync(fd, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      size += bytes;
    },
    close() {
      try { closeSync(fd); } catch { /* already closed */ }
    },
  };
}
