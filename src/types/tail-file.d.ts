/** The part of tail-file (untyped CommonJS) that `xopc gateway logs --follow` uses. */
declare module 'tail-file' {
  import { EventEmitter } from 'node:events';

  interface TailOptions {
    /** Where to start in the file: 'end' (default), 'start', or a character position. */
    startPos?: 'start' | 'end' | number;
    sep?: string | RegExp;
    force?: boolean;
  }

  class Tail extends EventEmitter {
    constructor(filename: string, options?: TailOptions);
    /** The file being read now (the primary file, or `<file>.1` when the primary is missing). */
    readonly started: string | null;
    /** Byte position in `started` of the next read; 'init' before the first stat. */
    readonly pos: number | 'init';
    startP(): Promise<boolean>;
    stop(): Promise<boolean>;
    on(event: 'line', listener: (line: string) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'ready', listener: (fd: number) => void): this;
    on(event: 'restart', listener: (reason: string) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
  }

  export = Tail;
}
