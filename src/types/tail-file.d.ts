/**
 * The part of tail-file (untyped CommonJS) that `xopc gateway logs --follow` uses,
 * including the internals src/log-follow.ts needs to fix its rotation race.
 */
declare module 'tail-file' {
  import { EventEmitter } from 'node:events';

  interface TailOptions {
    /** Where to start in the file: 'end' (default), 'start', or a character position. */
    startPos?: 'start' | 'end' | number;
    sep?: string | RegExp;
    force?: boolean;
    /** tail-file copies every option onto the instance, so methods can be replaced this way. */
    onEndOfFileForTail?: (this: Tail) => void;
  }

  class Tail extends EventEmitter {
    constructor(filename: string, options?: TailOptions);
    readonly filename: string;
    /** The file being read now (the primary file, or `<file>.1` when the primary is missing). */
    readonly started: string | null;
    /** Byte position in `started` of the next read; 'init' before the first stat. */
    pos: number | 'init';
    /** Open descriptor of `started` ('init' while opening). */
    fd?: number | 'init';
    /** Inode of `started`. */
    ino: number | null;
    reading: boolean;
    /** Set when the directory changed while a read was under way. */
    readable: boolean;
    stopping: string | null;
    /** Files still to read when catching up after findStart(). */
    backlog: string[];
    startP(): Promise<boolean>;
    stop(): Promise<boolean>;
    readStuff(): void;
    interrupt(): void;
    onEndOfFileForTail(): void;
    on(event: 'line', listener: (line: string) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'ready', listener: (fd: number) => void): this;
    on(event: 'restart', listener: (reason: string) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
  }

  export = Tail;
}
