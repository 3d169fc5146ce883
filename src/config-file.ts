import { closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from './atomic-write.js';
import { configIssues, ConfigError, readRawConfig, type ConfigIssue } from './config.js';
import { isAlive } from './proc.js';

/**
 * The config file as `xopc config` edits it: its JSON with the layout it was written in
 * (indentation, final newline), one editor at a time, written atomically with mode 0600.
 * The file is strict JSON (the gateway's parser takes no comments), so an edit that keeps
 * the JSON keeps everything the file can hold.
 */

/** A config file's JSON and how it was laid out. */
export interface ConfigText {
  /** The file the JSON came from, symlinks resolved (an edit replaces the target, not the link). */
  path: string;
  exists: boolean;
  raw: Record<string, unknown>;
  /** Indentation of the file: spaces, a tab, or '' for one line. */
  indent: string;
  finalNewline: boolean;
}

/** Reads the config file (missing or empty: {}), noting its layout; a ConfigError when it is not a JSON object. */
export function readConfigText(path: string): ConfigText {
  const real = existsSync(path) ? realpathSync(path) : path;
  const raw = readRawConfig(real);
  let text = '';
  try {
    text = readFileSync(real, 'utf8');
  } catch {
    /* missing: the defaults below */
  }
  if (text.trim() === '') return { path: real, exists: text !== '' || existsSync(real), raw, indent: '  ', finalNewline: true };
  const indent = /^\{\s*\n([ \t]+)"/.exec(text)?.[1] ?? (text.trim().includes('\n') ? '  ' : '');
  return { path: real, exists: true, raw, indent, finalNewline: text.endsWith('\n') };
}

/** `raw` as text in the layout of `like`. */
export function formatConfig(raw: Record<string, unknown>, like: Pick<ConfigText, 'indent' | 'finalNewline'>): string {
  return JSON.stringify(raw, null, like.indent || undefined) + (like.finalNewline ? '\n' : '');
}

/** Writes `raw` in place of the file, atomically (temp file beside it, fsync, rename), mode 0600. */
export function writeConfigText(text: ConfigText, raw: Record<string, unknown>): void {
  writeFileAtomic(text.path, formatConfig(raw, text), 0o600);
}

/** Every problem of the config file as it is on disk: a file that is not JSON is one problem at `(file)`. */
export function fileIssues(path: string): ConfigIssue[] {
  let raw: Record<string, unknown>;
  try {
    raw = readRawConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) return [{ key: '(file)', message: jsonErrorWithLine(path, err.message) }];
    throw err;
  }
  return configIssues(raw);
}

/** A JSON parser's "at position N" turned into a line and column a person can find. */
function jsonErrorWithLine(path: string, message: string): string {
  const position = /at position (\d+)/.exec(message);
  if (!position) return message;
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return message;
  }
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

// Editing the config takes milliseconds; a lock this old is left by a process that died
// holding it under a pid that is in use again.
const STALE_LOCK_MS = 10_000;
/** Bound on waiting for another editor. */
const LOCK_WAIT_MS = 10_000;

/**
 * Runs `edit` while holding the config's edit lock (`.<name>.edit-lock` beside it, created
 * exclusively): two `xopc config set` at once both land, one after the other, instead of
 * the second writing over the first's change from a copy read before it.
 */
export async function withConfigLock<T>(configPath: string, edit: () => T): Promise<T> {
  const real = existsSync(configPath) ? realpathSync(configPath) : configPath;
  const lock = join(dirname(real), `.${basename(real)}.edit-lock`);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dirname(real))) {
        // No folder yet (a first `set`): made as the gateway makes its state dir.
        mkdirSync(dirname(real), { recursive: true, mode: 0o700 });
        continue;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (removeStaleLock(lock)) continue;
      if (Date.now() > deadline) throw new ConfigError(`Another \`xopc config\` is editing ${real} (lock ${lock} held for ${LOCK_WAIT_MS / 1000} s); try again, or remove the lock if no such command runs`);
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return edit();
  } finally {
    try { unlinkSync(lock); } catch { /* removed as stale by another editor */ }
  }
}

/**
 * Removes the lock when its owner is gone (dead pid, or older than STALE_LOCK_MS); true when
 * removed. It is first renamed aside and read again there: two editors that judge the same
 * abandoned lock must not have the slower one delete the lock the faster one has just taken.
 */
function removeStaleLock(lock: string): boolean {
  const owner = readLockFile(lock);
  if (!owner) return true; // gone already: try again
  if (!isAbandoned(owner)) return false;
  const aside = `${lock}.${process.pid}.stale`;
  try {
    renameSync(lock, aside);
  } catch {
    return true; // another editor moved it first
  }
  const moved = readLockFile(aside);
  if (moved && moved.pid !== owner.pid && !isAbandoned(moved)) {
    // Someone else's fresh lock: put it back unless yet another editor holds the name now.
    try { linkSync(aside, lock); } catch { /* taken: it waits for that one */ }
  }
  try { unlinkSync(aside); } catch { /* already gone */ }
  return true;
}

function readLockFile(lock: string): { pid: number; ageMs: number } | null {
  try {
    return { pid: Number(readFileSync(lock, 'utf8')), ageMs: Date.now() - statSync(lock).mtimeMs };
  } catch {
    return null;
  }
}

// An empty lock is being written right now; only its age tells it was abandoned.
function isAbandoned(owner: { pid: number; ageMs: number }): boolean {
  return owner.ageMs > STALE_LOCK_MS || (owner.pid > 0 && !isAlive(owner.pid));
}
