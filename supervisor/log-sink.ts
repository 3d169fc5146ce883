import type { Readable } from 'node:stream';
import { createRotatingFile, type RotatingFile } from '../src/log-file.js';

export interface LogSinkOptions {
  file: string;
  maxBytes: number;
  maxFiles: number;
  /** Pretty-prints each JSON line on the terminal when set (foreground runs). */
  terminal?: { write(text: string): void; format(line: string): string };
}

/**
 * The single writer of the log file: the supervisor's own pino lines and every line its
 * workers print on stdout/stderr go through here, so rotation has one owner.
 */
export interface LogSink {
  /** pino destination for the supervisor's own logger. */
  write(line: string): void;
  /** Copies a worker's output stream into the log, line by line. */
  attach(stream: Readable, kind: 'stdout' | 'stderr', workerPid: number): void;
  close(): void;
}

export function createLogSink(options: LogSinkOptions): LogSink {
  const file: RotatingFile = createRotatingFile({ path: options.file, maxBytes: options.maxBytes, maxFiles: options.maxFiles });

  function emit(text: string): void {
    try {
      file.write(text);
    } catch {
      // A full disk must not take the gateway down; the terminal still gets the line.
    }
    if (options.terminal) {
      for (const line of text.split('\n')) if (line) options.terminal.write(options.terminal.format(line) + '\n');
    }
  }

  return {
    write: emit,
    attach(stream, kind, workerPid) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const text = rest + chunk;
        const cut = text.lastIndexOf('\n');
        if (cut === -1) {
          rest = text;
          return;
        }
        rest = text.slice(cut + 1);
        const lines = text.slice(0, cut + 1);
        // stdout carries pino JSON; stderr (a crash trace, a Node warning) is wrapped into JSON lines.
        emit(kind === 'stdout' ? lines : wrapPlainLines(lines, workerPid));
      });
      stream.on('end', () => {
        if (rest) emit(kind === 'stdout' ? rest + '\n' : wrapPlainLines(rest + '\n', workerPid));
        rest = '';
      });
    },
    close: () => file.close(),
  };
}

function wrapPlainLines(text: string, pid: number): string {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.stringify({ level: 50, time: Date.now(), pid, proc: 'worker', component: 'stderr', msg: line }) + '\n')
    .join('');
}
