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
    },
    destination,
  );
}
