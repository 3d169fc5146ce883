import { open, type FileHandle } from 'node:fs/promises';

/** pino's level numbers, by name. */
export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export type LogLevelName = keyof typeof LOG_LEVELS;

/** What a line must match to be returned; every field is optional. */
export interface LogFilter {
  /** Minimum pino level number (e.g. 40 for warn). */
  minLevel?: number;
  /** Epoch ms: only lines logged at or after this time. */
  since?: number;
  /** Case-insensitive substring of the raw line. */
  q?: string;
}

export interface LogQuery extends LogFilter {
  /** How many matching lines to return at most (the newest ones). */
  lines: number;
}

export interface ReadOptions {
  /**
   * Read the current file only up to this byte offset (rotated files are read whole).
   * `logs --follow` uses it so the printed tail and the followed lines meet exactly.
   */
  endOffset?: number;
}

/** One JSON log line, as pino wrote it. */
export type LogEntry = Record<string, unknown>;

interface ScannedLine {
  raw: string;
  entry: LogEntry | null;
}

/** First read from the end of a file; doubled on each further read up to MAX_CHUNK_BYTES. */
const FIRST_CHUNK_BYTES = 64 * 1024;
const MAX_CHUNK_BYTES = 1024 * 1024;
/**
 * The supervisor and the worker write the same file, and worker lines pass through the
 * supervisor's pipe, so neighbouring lines can be a little out of time order. Only stop
 * scanning at a line this much older than `since`.
 */
const SINCE_SLACK_MS = 5_000;

/**
 * The newest `n` lines matching `filter`, oldest first, read backwards across
 * `file`, `file.1` ... `file.maxFiles`. Only the tail of each file is read, in growing
 * chunks, so the answer does not depend on the file size or on the length of lines.
 * Lines that are not JSON are kept (the raw CLI output shows them) unless the filter
 * needs a level or a time, which they do not have.
 */
export async function readLastLines(file: string, n: number, maxFiles: number, filter: LogFilter = {}, options: ReadOptions = {}): Promise<string[]> {
  const lines = await scan(file, n, maxFiles, filter, false, options);
  return lines.map((line) => line.raw);
}

/** The newest `query.lines` JSON entries matching the query, oldest first; non-JSON lines are skipped. */
export async function readLogEntries(file: string, query: LogQuery, maxFiles: number): Promise<LogEntry[]> {
  const lines = await scan(file, query.lines, maxFiles, query, true, {});
  return lines.map((line) => line.entry!);
}

/** The files to read, newest first: `file`, then `file.1` ... `file.maxFiles`. */
export function logFiles(file: string, maxFiles: number): string[] {
  const files = [file];
  for (let i = 1; i <= maxFiles; i++) files.push(`${file}.${i}`);
  return files;
}

async function scan(file: string, n: number, maxFiles: number, filter: LogFilter, jsonOnly: boolean, options: ReadOptions): Promise<ScannedLine[]> {
  const found: ScannedLine[] = [];
  if (n <= 0) return found;
  // A case-insensitive regex search does not copy every line the way toLowerCase() would.
  const q = filter.q ? new RegExp(filter.q.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'iu') : undefined;
  const needsEntry = jsonOnly || filter.minLevel !== undefined || filter.since !== undefined;

  // A rotation during the scan renames a file we already read to the next name: read each file once.
  const seen = new Set<number>();
  files: for (const [index, path] of logFiles(file, maxFiles).entries()) {
    const endOffset = index === 0 ? options.endOffset : undefined;
    for await (const batch of linesBackward(path, endOffset, seen)) {
      for (const raw of batch) {
        if (q !== undefined && !q.test(raw)) continue;
        const entry = needsEntry ? parseEntry(raw) : null;
        if (needsEntry && entry === null) continue;
        if (entry && filter.since !== undefined) {
          const time = entryTime(entry);
          if (time !== undefined && time < filter.since) {
            if (time < filter.since - SINCE_SLACK_MS) break files;
            continue;
          }
        }
        if (entry && filter.minLevel !== undefined && !(entryLevel(entry) >= filter.minLevel)) continue;
        found.push({ raw, entry });
        if (found.length >= n) break files;
      }
    }
  }
  return found.reverse();
}

/**
 * The lines of one file, newest first, in one batch per chunk read (an await per line
 * would cost more than the reading), without reading more of the file than needed.
 * A missing file, or one whose inode is in `seenInodes`, yields nothing. Lines are split on the `\n` byte, which never occurs
 * inside a multi-byte UTF-8 sequence, so chunk edges cannot break a character.
 */
export async function* linesBackward(path: string, endOffset?: number, seenInodes: Set<number> = new Set()): AsyncGenerator<string[]> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const { size, ino } = await handle.stat();
    // Some file systems report no inode (0): then every file counts as new.
    if (ino !== 0 && seenInodes.has(ino)) return;
    seenInodes.add(ino);
    let position = endOffset === undefined ? size : Math.min(endOffset, size);
    let chunkSize = FIRST_CHUNK_BYTES;
    // Pieces of the line that began before the current chunk (from later chunks), in file order.
    let pending: Buffer[] = [];
    while (position > 0) {
      const length = Math.min(chunkSize, position);
      position -= length;
      const chunk = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(chunk, 0, length, position);
      // The file shrank under us (truncated): what is left is not worth guessing about.
      if (bytesRead < length) return;
      const batch: string[] = [];
      let end = length;
      for (let nl = chunk.lastIndexOf(0x0a, end - 1); nl !== -1; nl = nl === 0 ? -1 : chunk.lastIndexOf(0x0a, nl - 1)) {
        const line = joinLine(chunk.subarray(nl + 1, end), pending);
        pending = [];
        end = nl;
        if (line !== '') batch.push(line);
      }
      if (end > 0) pending.unshift(chunk.subarray(0, end));
      if (batch.length > 0) yield batch;
      chunkSize = Math.min(chunkSize * 2, MAX_CHUNK_BYTES);
    }
    const first = joinLine(Buffer.alloc(0), pending);
    if (first !== '') yield [first];
  } finally {
    await handle.close();
  }
}

function joinLine(head: Buffer, pending: Buffer[]): string {
  const bytes = pending.length === 0 ? head : Buffer.concat([head, ...pending]);
  let text = bytes.toString('utf8');
  if (text.endsWith('\r')) text = text.slice(0, -1);
  return /\S/.test(text) ? text : '';
}

/** The line as a JSON object, or null when it is not one. */
export function parseEntry(raw: string): LogEntry | null {
  if (!raw.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogEntry) : null;
  } catch {
    return null;
  }
}

/** The entry's level as a number (pino writes numbers; labels are accepted too). */
export function entryLevel(entry: LogEntry): number {
  const level = entry.level;
  if (typeof level === 'number') return level;
  if (typeof level === 'string' && level in LOG_LEVELS) return LOG_LEVELS[level as LogLevelName];
  return Number.NaN;
}

/** The entry's time in epoch ms (pino writes epoch ms; ISO strings are accepted too). */
export function entryTime(entry: LogEntry): number | undefined {
  const time = entry.time;
  if (typeof time === 'number') return time;
  if (typeof time === 'string') {
    const parsed = Date.parse(time);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

/** The level number for a level name (case-insensitive), or undefined for an unknown name. */
export function parseLevel(name: string): number | undefined {
  const key = name.toLowerCase();
  return key in LOG_LEVELS ? LOG_LEVELS[key as LogLevelName] : undefined;
}

const DURATION_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const ISO_PATTERN = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A `since` value as epoch ms: an ISO 8601 time (`2025-01-31T12:00:00Z`), epoch
 * milliseconds (`1738324800000`), or a duration before `now` (`30s`, `15m`, `2h`, `1d`, `1w`).
 * Undefined when the value is none of these.
 */
export function parseSince(value: string, now: number = Date.now()): number | undefined {
  const text = value.trim();
  const relative = /^(\d{1,9})(s|m|h|d|w)$/.exec(text);
  if (relative) return now - Number(relative[1]) * DURATION_MS[relative[2] as keyof typeof DURATION_MS];
  if (/^\d{1,15}$/.test(text)) return Number(text);
  if (ISO_PATTERN.test(text)) {
    const parsed = Date.parse(text);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}
