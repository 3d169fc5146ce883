/**
 * The supervisor's root logger. It writes pino's JSON lines (the same keys as the worker's
 * pino logger from src/logger.ts, so one log file reads as one stream) without loading
 * pino: pino and its dependencies were a fifth of the supervisor's memory beyond Node's
 * own and ~30 ms of its start-up, for a process that logs a few lines per worker event.
 */

export type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LogFn {
  (fields: Record<string, unknown>, msg?: string): void;
  (msg: string): void;
}

/** The part of pino's Logger the supervisor uses; a pino logger is one too. */
export interface Logger extends Record<LevelName, LogFn> {
  child(bindings: Record<string, unknown>): Logger;
}

const LEVELS: Record<LevelName, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/**
 * Keys whose values never reach a log line, at any depth (pino's REDACT_PATHS name them
 * at the depths the worker logs them; the supervisor has no reason to log any).
 */
const SECRET_KEYS = new Set(['token', 'apiKey', 'secret', 'webhookSecret', 'authorization', 'x-telegram-bot-api-secret-token', 'password']);

export function createLogger(level: LevelName, destination: { write(line: string): void }): Logger {
  const min = LEVELS[level];
  const make = (bindings: Record<string, unknown>): Logger => {
    const log = (levelName: LevelName): LogFn =>
      ((fields: Record<string, unknown> | string, msg?: string) => {
        if (LEVELS[levelName] < min) return;
        if (typeof fields === 'string') [fields, msg] = [{}, fields];
        const entry: Record<string, unknown> = { level: LEVELS[levelName], time: Date.now(), ...bindings, ...fields };
        if (fields.err !== undefined) entry.err = serializeError(fields.err);
        if (msg !== undefined) entry.msg = msg;
        destination.write(`${stringify(entry)}\n`);
      }) as LogFn;
    return {
      trace: log('trace'),
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      fatal: log('fatal'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({ pid: process.pid, proc: 'supervisor' });
}

function stringify(entry: Record<string, unknown>): string {
  const redact = (key: string, value: unknown) => (SECRET_KEYS.has(key) ? '[redacted]' : typeof value === 'bigint' ? value.toString() : value);
  try {
    return JSON.stringify(entry, redact);
  } catch {
    // A circular value: keep the line, drop the fields.
    return JSON.stringify({ level: entry.level, time: entry.time, pid: entry.pid, proc: entry.proc, msg: entry.msg, unserializable: true });
  }
}

/** pino's err serializer: type, message and stack with their causes, and the error's own fields (code, errno, ...). */
function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const out: Record<string, unknown> = { type: value.constructor.name, message: chain(value, (err) => err.message, ': '), stack: chain(value, (err) => err.stack ?? '', '\ncaused by: ') };
  for (const [key, field] of Object.entries(value)) if (!(key in out)) out[key] = field instanceof Error ? serializeError(field) : field;
  return out;
}

function chain(err: Error, part: (err: Error) => string, separator: string): string {
  const cause = err.cause;
  return cause instanceof Error ? `${part(err)}${separator}${chain(cause, part, separator)}` : part(err);
}
