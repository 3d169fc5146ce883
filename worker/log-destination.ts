import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** Past this much output waiting for the supervisor to read, new lines are dropped (and counted). */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export interface PipeDestination {
  /** pino's destination interface: one JSON line per call. */
  write(line: string): void;
  /** Hands the lines of this tick to the pipe now; `cb` once they are written. */
  flush(cb?: (err?: Error | null) => void): void;
  /** At exit: one synchronous write of what is left; never retried, never waits. */
  flushSync(): void;
  /** True once the reader is gone (EPIPE): everything written since is dropped. */
  readonly broken: boolean;
}

/**
 * The worker's log destination: its stdout, a pipe whose reader is the supervisor (the
 * single writer of the log file). Lines written in one tick go out in one write.
 *
 * Not pino.destination(): sonic-boom 4 retries every failed synchronous write, EPIPE
 * included, forever, and pino calls its flushSync() at exit. A worker whose supervisor
 * was killed then spins at exit with the listening socket still open (clients connect
 * and are never answered). Here a dead pipe is final: lines are dropped, nothing waits.
 */
export function createPipeDestination(stream: Writable & { fd?: number } = process.stdout): PipeDestination {
  let pending = '';
  let scheduled = false;
  let broken = false;
  let dropped = 0;

  stream.on('error', () => {
    broken = true;
    pending = '';
  });

  function handOver(cb?: (err?: Error | null) => void): void {
    scheduled = false;
    if (broken || pending === '') {
      cb?.();
      return;
    }
    let chunk = pending;
    pending = '';
    if (dropped > 0) {
      chunk += JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, proc: 'worker', dropped, msg: 'log lines dropped: the supervisor did not keep up' }) + '\n';
      dropped = 0;
    }
    stream.write(chunk, cb);
  }

  return {
    get broken() {
      return broken;
    },
    write(line) {
      if (broken) return;
      if (stream.writableLength + pending.length > MAX_QUEUED_BYTES) {
        dropped++;
        return;
      }
      pending += line;
      if (!scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
    },
    flush: handOver,
    flushSync() {
      if (broken || pending === '') return;
      const chunk = pending;
      pending = '';
      // Behind output the stream still queues, a direct write would reorder lines.
      if (stream.writableLength > 0 || stream.fd === undefined) {
        stream.write(chunk);
        return;
      }
      try {
        writeSync(stream.fd, chunk);
      } catch {
        // EPIPE (reader gone) or EAGAIN (pipe full): the lines are lost, the exit is not held up.
        broken = true;
      }
    },
  };
}
