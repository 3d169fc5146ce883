import type Koa from 'koa';
import type { Logger } from '../../src/logger.js';

const MAX_PATH_LENGTH = 300;

/**
 * Logs exactly one line per request once the response is over: method, path, status,
 * ms, remote address. The path has no query string (it may carry secrets); bodies and
 * headers are never logged. Waiting for the response's `close` means the line shows the
 * status the client really got, whatever middleware set it, and that requests whose
 * client went away are logged too (`aborted: true`).
 *
 * Levels: info below 500, warn for 5xx. A 5xx's cause is already logged once at error
 * level, with the stack, by the app's error handler; this line only records the request.
 */
/** Called once per request when its answer is over (for metrics), with the final status. */
export type OnResponse = (ctx: Koa.Context, status: number, seconds: number) => void;

export function createRequestLog(logger: Logger, onResponse?: OnResponse): Koa.Middleware {
  // The line is built below from these fields only, none of which can hold a secret (the
  // path has no query string), so it skips redaction: pino's wildcard redaction costs
  // ~7 us a line, ten times the rest of the line, and this is the one line every request
  // writes (~25% of /health throughput). Nothing else may log through this child.
  const requestLogger = logger.child({}, { redact: [] });
  return async function requestLog(ctx, next) {
    const started = process.hrtime.bigint();
    const { method } = ctx;
    const path = ctx.path.length > MAX_PATH_LENGTH ? `${ctx.path.slice(0, MAX_PATH_LENGTH)}...` : ctx.path;
    const remote = ctx.request.ip;
    ctx.res.once('close', () => {
      const status = ctx.res.statusCode;
      const ns = Number(process.hrtime.bigint() - started);
      const ms = Math.round(ns / 1e5) / 10;
      onResponse?.(ctx, status, ns / 1e9);
      const aborted = !ctx.res.writableFinished;
      const line = { method, path, status, ms, remote, ...(aborted ? { aborted } : {}) };
      const message = aborted ? 'Request aborted by the client' : 'Request completed';
      if (status >= 500) requestLogger.warn(line, message);
      else requestLogger.info(line, message);
    });
    await next();
  };
}
