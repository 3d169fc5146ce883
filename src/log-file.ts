import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultLogFile } from './paths.js';

export interface RotatingFileOptions {
  path: string;
  /** Rotate when the current file would grow past this many bytes. */
  maxBytes: number;
  /** How many rotated files (`<path>.1` .. `<path>.N`) to keep. */
  maxFiles: number;
  /**
   * Told when writing fails (disk full, file removed with its directory, ...). Writing
   * never throws: the line is dropped and the next write reopens the file. Called once
   * per run of failures; the default prints one line to stderr.
   */
  onError?: (err: Error) => void;
  /** How often to check whether another process rotated the file (default 1000 ms; tests use 0). */
  checkIntervalMs?: number;
}

export interface RotatingFile {
  write(chunk: string | Buffer): void;
  close(): void;
}

// How often to check that the path still names our open file (another process —
// the other supervisor during a respawn handover — may have rotated it) and to
// re-read its size (that process's lines count towards maxBytes too). One stat per
// second, not one per line.
const CHECK_INTERVAL_MS = 1000;

/**
 * An append-only log file rotated by size: `gateway.log` -> `gateway.log.1` -> ... ->
 * `gateway.log.N` (deleted). Writes are synchronous appends (O_APPEND), so lines from
 * two processes never interleave inside a line and nothing is lost at exit.
 * Disk use is bounded by about (maxFiles + 1) x maxBytes.
 */
export function createRotatingFile(options: RotatingFileOptions): RotatingFile {
  const { path, maxBytes, maxFiles, checkIntervalMs = CHECK_INTERVAL_MS } = options;
  const onError = options.onError ?? ((err: Error) => process.stderr.write(`xopc: cannot write the log file ${path}: ${err.message}\n`));
  removeBeyondRetention(path, maxFiles);

  let fd = -1;
  let size = 0;
  let inode = -1;
  let lastCheck = Date.now();
  let failing = false;
  let closed = false;
  open();

  function open(): void {
    // Recreates the directory too, in case it was removed while we were running.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    fd = openSync(path, 'a', 0o600);
    const stat = fstatSync(fd);
    size = stat.size;
    inode = stat.ino;
  }

  function reopen(): void {
    if (fd !== -1) {
      try { closeSync(fd); } catch { /* already closed */ }
      fd = -1;
    }
    open();
  }

  /** Whether `path` still names the file we hold open. */
  function pathIsOurs(): boolean {
    try {
      return statSync(path).ino === inode;
    } catch {
      return false;
    }
  }

  function rotate(): void {
    // Another writer may have rotated a moment ago: then its fresh file is not ours to rotate.
    if (!pathIsOurs()) {
      reopen();
      return;
    }
    try { unlinkSync(`${path}.${maxFiles}`); } catch { /* not there */ }
    for (let i = maxFiles - 1; i >= 1; i--) {
      try { renameSync(`${path}.${i}`, `${path}.${i + 1}`); } catch { /* gap */ }
    }
    try { renameSync(path, `${path}.1`); } catch { /* someone else rotated */ }
    reopen();
  }

  function append(buffer: Buffer): void {
    const now = Date.now();
    if (fd === -1) {
      reopen();
    } else if (now - lastCheck >= checkIntervalMs) {
      lastCheck = now;
      if (pathIsOurs()) size = fstatSync(fd).size;
      else reopen();
    }
    if (size > 0 && size + buffer.length > maxBytes) rotate();
    let written = 0;
    while (written < buffer.length) written += writeSync(fd, buffer, written);
    size += buffer.length;
  }

  return {
    write(chunk) {
      if (closed) return;
      try {
        append(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        failing = false;
      } catch (err) {
        if (!failing) onError(err as Error);
        failing = true;
        if (fd !== -1) {
          try { closeSync(fd); } catch { /* already closed */ }
          fd = -1;
        }
      }
    },
    close() {
      closed = true;
      if (fd !== -1) {
        try { closeSync(fd); } catch { /* already closed */ }
        fd = -1;
      }
    },
  };
}

/** Deletes `<path>.K` for K > maxFiles: left over when `logging.maxFiles` was lowered. */
function removeBeyondRetention(path: string, maxFiles: number): void {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const suffix = name.slice(prefix.length);
    if (/^\d+$/.test(suffix) && Number(suffix) > maxFiles) {
      try { unlinkSync(join(dirname(path), name)); } catch { /* gone already */ }
    }
  }
}

/**
 * The log file of a gateway: `logging.file` (a relative path is taken from the config
 * file's directory, `~/` is the home directory), else `logs/gateway.log` in the gateway's
 * state dir (`<state>/` for the default config, `<state>/gateways/<hash>/` for another).
 * The supervisor (writer) and `xopc gateway logs` / `GET /api/logs` (readers) must agree.
 */
export function resolveLogFile(logging: { file: string | null }, configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  const file = logging.file;
  if (!file) return defaultLogFile(env, configPath);
  if (file === '~' || file.startsWith('~/')) return join(homedir(), file.slice(1));
  return resolve(dirname(configPath), file);
}
