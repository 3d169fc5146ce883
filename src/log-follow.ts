import { fstat, stat } from 'node:fs';
import Tail from 'tail-file';
import { readLastLinesPage, type LogFilter, type LogPosition } from './log-reader.js';

export interface FollowOptions {
  /** How many existing lines to deliver before the new ones. */
  lines: number;
  /** Rotated files to look into for those lines (`logging.maxFiles`). */
  maxFiles: number;
  /** Only history lines matching this count toward `lines` (new lines are all delivered). */
  filter?: LogFilter;
  onLine(line: string): void;
}

export interface LogFollower {
  /** The position just before the first line delivered (null: the history reached the log's start). */
  readonly before: LogPosition | null;
  /** Resolves with the error that ended following (tail-file reports errors, it never throws). */
  readonly failed: Promise<Error>;
  /** Stops watching; bounded, because tail-file's stop() can wait forever when stopped mid-start. */
  stop(): Promise<void>;
}

/** How long stop() waits for tail-file to release its watcher and file. */
const STOP_TIMEOUT_MS = 1000;

/**
 * Delivers the last `lines` lines of the log, then every new line, across rotations:
 * when `file` is renamed to `file.1` and a new `file` appears, the rest of the old file
 * is read to its end, then the new file from its start. Resolves once the history is
 * delivered and the watch is live. The tail starts first and the history ends exactly
 * where the tail started, so no line is delivered twice or lost in between.
 */
export async function followLog(file: string, options: FollowOptions): Promise<LogFollower> {
  const tail = new Tail(file, { startPos: 'end', sep: /\r?\n/, onEndOfFileForTail: finishOldFileFirst });
  let startOffset: number | undefined;
  tail.once('ready', () => {
    if (tail.started === file && typeof tail.pos === 'number') startOffset = tail.pos;
  });
  // Lines that arrive while the history is read are delivered after it.
  let backlog: string[] | null = [];
  tail.on('line', (line) => {
    if (line === '') return;
    if (backlog) backlog.push(line);
    else options.onLine(line);
  });
  let reportFailure!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));
  tail.on('error', (err) => reportFailure(err));
  const stop = () => stopTail(tail);
  let before: LogPosition | null = null;

  try {
    await tail.startP();
    const history = await readLastLinesPage(file, options.lines, options.maxFiles, options.filter ?? {}, { endOffset: startOffset });
    before = history.before;
    for (const line of history.lines) options.onLine(line);
  } catch (err) {
    await stop();
    throw err;
  }
  for (const line of backlog) options.onLine(line);
  backlog = null;
  return { failed, stop, before };
}

const tailFileEndOfFile = Tail.prototype.onEndOfFileForTail;

/**
 * Replaces tail-file's end-of-file step (its documented way to customise it). Upstream
 * stats the path and, when it names a new file, switches to it at once, dropping lines
 * the writer appended to the old file while that stat was under way: exactly the last
 * lines before a rotation. Here, once the path names a new file, the old file is
 * checked again (its size is final: the writer wrote it before renaming it) and read
 * to its end before the switch.
 */
function finishOldFileFirst(this: Tail): void {
  const fd = this.fd;
  const position = this.pos;
  if (!this.started || this.stopping || typeof fd !== 'number' || typeof position !== 'number' || this.backlog.length > 0) {
    tailFileEndOfFile.call(this);
    return;
  }
  this.reading = true;
  stat(this.filename, (statErr, current) => {
    if (statErr || current.ino === this.ino) {
      this.reading = false;
      if (!this.started) return;
      // Truncated in place: tail-file starts the file over.
      if (!statErr && current.size < position) return tailFileEndOfFile.call(this);
      if (this.readable) return this.readStuff();
      this.emit('eof', position);
      return;
    }
    fstat(fd, (fstatErr, old) => {
      this.reading = false;
      if (!this.started || this.fd !== fd) return;
      if (!fstatErr && old.size > position) return this.readStuff();
      // The old file is done: let tail-file switch to the new one (or wait until it has lines).
      tailFileEndOfFile.call(this);
    });
  });
}

async function stopTail(tail: Tail): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)));
  await Promise.race([tail.stop().catch(() => undefined), timeout]);
  clearTimeout(timer);
}
