import { open, stat, type FileHandle } from 'node:fs/promises';

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
  /**
   * Read only lines before this position (a cursor from `LinesPage.before`): the files
   * newer than the one it names are skipped, that one is read up to it.
   */
  before?: LogPosition;
}

/**
 * Where a line of the log starts: its file, by inode (a rotation renames the file, which
 * keeps its inode, so a position stays valid across rotations), and the byte offset.
 */
export interface LogPosition {
  ino: number;
  offset: number;
}

/** Lines, oldest first, and the position just before the oldest (null: there is nothing older). */
export interface LinesPage<T> {
  lines: T[];
  before: LogPosition | null;
}

/** A position as the API's opaque cursor: `<inode>-<offset>`. */
export function formatPosition(position: LogPosition): string {
  return `${position.ino}-${position.offset}`;
}

/** A cursor made by formatPosition, or undefined when the text is not one. */
export function parsePosition(text: string): LogPosition | undefined {
  const match = /^(\d{1,16})-(\d{1,15})$/.exec(text);
  if (!match) return undefined;
  const ino = Number(match[1]);
  const offset = Number(match[2]);
  return Number.isSafeInteger(ino) && Number.isSafeInteger(offset) ? { ino, offset } : undefined;
}

/** One JSON log line, as pino wrote it. */
export type LogEntry = Record<string, unknown>;

interface ScannedLine {
  raw: string;
  entry: LogEntry | null;
  position: LogPosition;
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
  return (await readLastLinesPage(file, n, maxFiles, filter, options)).lines;
}

/** readLastLines, with the position before the oldest line returned (`n` = 0: where the read started). */
export async function readLastLinesPage(file: string, n: number, maxFiles: number, filter: LogFilter = {}, options: ReadOptions = {}): Promise<LinesPage<string>> {
  const { lines, before } = await scan(file, n, maxFiles, filter, false, options);
  return { lines: lines.map((line) => line.raw), before };
}

/** The newest `query.lines` JSON entries matching the query, oldest first; non-JSON lines are skipped. */
export async function readLogEntries(file: string, query: LogQuery, maxFiles: number): Promise<LogEntry[]> {
  return (await readLogEntriesPage(file, query, maxFiles)).lines;
}

/** readLogEntries, before `options.before` when given, with the position before the oldest entry returned. */
export async function readLogEntriesPage(file: string, query: LogQuery, maxFiles: number, options: ReadOptions = {}): Promise<LinesPage<LogEntry>> {
  const { lines, before } = await scan(file, query.lines, maxFiles, query, true, options);
  return { lines: lines.map((line) => line.entry!), before };
}

/** The files to read, newest first: `file`, then `file.1` ... `file.maxFiles`. */
export function logFiles(file: string, maxFiles: number): string[] {
  const files = [file];
  for (let i = 1; i <= maxFiles; i++) files.push(`${file}.${i}`);
  return files;
}

async function scan(file: string, n: number, maxFiles: number, filter: LogFilter, jsonOnly: boolean, options: ReadOptions): Promise<LinesPage<ScannedLine>> {
  const found: ScannedLine[] = [];
  if (n <= 0) return { lines: found, before: options.before ?? (await endOf(file, options.endOffset)) };
  // A case-insensitive regex search does not copy every line the way toLowerCase() would.
  const q = filter.q ? new RegExp(filter.q.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'iu') : undefined;
  const needsEntry = jsonOnly || filter.minLevel !== undefined || filter.since !== undefined;
  // Until the file a cursor names is reached, newer files are skipped.
  let reached = options.before === undefined;

  // A rotation during the scan renames a file we already read to the next name: read each file once.
  const seen = new Set<number>();
  files: for (const [index, path] of logFiles(file, maxFiles).entries()) {
    const from = (ino: number, size: number): number | null => {
      if (!reached) {
        if (ino !== options.before!.ino) return null;
        reached = true;
        return Math.min(options.before!.offset, size);
      }
      return index === 0 && options.endOffset !== undefined ? Math.min(options.endOffset, size) : size;
    };
    for await (const batch of linesBackwardFrom(path, from, seen)) {
      for (const [i, raw] of batch.lines.entries()) {
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
        found.push({ raw, entry, position: { ino: batch.ino, offset: batch.starts[i]! } });
        if (found.length >= n) {
          // `found` is newest first: its last line is the oldest.
          const before = found[found.length - 1]!.position;
          return { lines: found.reverse(), before };
        }
      }
    }
  }
  // Every file was read (or the rest is older than `since`): nothing older matches.
  return { lines: found.reverse(), before: null };
}

/** The position at the end of the current file (up to `endOffset`), or null when there is no file. */
async function endOf(file: string, endOffset?: number): Promise<LogPosition | null> {
  try {
    const { ino, size } = await stat(file);
    return { ino, offset: endOffset === undefined ? size : Math.min(endOffset, size) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * The lines of one file, newest first, in one batch per chunk read (an await per line
 * would cost more than the reading), without reading more of the file than needed.
 * A missing file, or one whose inode is in `seenInodes`, yields nothing. Lines are split on the `\n` byte, which never occurs
 * inside a multi-byte UTF-8 sequence, so chunk edges cannot break a character.
 */
export async function* linesBackward(path: string, endOffset?: number, seenInodes: Set<number> = new Set()): AsyncGenerator<string[]> {
  const from = (_ino: number, size: number) => (endOffset === undefined ? size : Math.min(endOffset, size));
  for await (const batch of linesBackwardFrom(path, from, seenInodes)) yield batch.lines;
}

/** One chunk's lines, newest first, with the byte offset where each starts. */
interface Batch {
  ino: number;
  lines: string[];
  starts: number[];
}

/** linesBackward from the offset `from` picks for the file once it is open (null: skip the file). */
async function* linesBackwardFrom(path: string, from: (ino: number, size: number) => number | null, seenInodes: Set<number>): AsyncGenerator<Batch> {
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
    const start = from(ino, size);
    if (start === null) return;
    let position = start;
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
      const batch: Batch = { ino, lines: [], starts: [] };
      let end = length;
      for (let nl = chunk.lastIndexOf(0x0a, end - 1); nl !== -1; nl = nl === 0 ? -1 : chunk.lastIndexOf(0x0a, nl - 1)) {
        const line = joinLine(chunk.subarray(nl + 1, end), pending);
        pending = [];
        end = nl;
        if (line !== '') {
          batch.lines.push(line);
          batch.starts.push(position + nl + 1);
        }
      }
      if (end > 0) pending.unshift(chunk.subarray(0, end));
      if (batch.lines.length > 0) yield batch;
      chunkSize = Math.min(chunkSize * 2, MAX_CHUNK_BYTES);
    }
    const first = joinLine(Buffer.alloc(0), pending);
    if (first !== '') yield { ino, lines: [first], starts: [0] };
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
