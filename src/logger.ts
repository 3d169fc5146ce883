import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line. */
export const REDACT_PATHS = [
  'token', '*.token', '*.*.token',
  'apiKey', '*.apiKey', '*.*.apiKey',
  'secret', '*.secret', '*.*.secret', 'webhookSecret', '*.webhookSecret',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'headers["x-telegram-bot-api-secret-token"]', 'req.headers["x-telegram-bot-api-secret-token"]',
  'password', '*.password',
];

/**
 * How an `err` is logged. The API's own errors (the registry's ApiError: a documented
 * code, expected in normal operation, such as a model provider failing) are one line with
 * their code; a stack trace there only buries the unexpected errors, which keep theirs.
 */
export function serializeError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error && err.name === 'ApiError' && typeof code === 'string') return { type: err.name, code, message: err.message };
  return pino.stdSerializers.err(err as Error);
}

/**
 * The root logger of one process. `process` tags every line so the supervisor's and the
 * worker's lines can be told apart in the shared log file; components take children.
 */
export function createLogger(processName: 'supervisor' | 'worker' | 'cli', level: LevelWithSilent, destination: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, proc: processName },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.epochTime,
      serializers: { err: serializeError },
    },
    destination,
  );
}
