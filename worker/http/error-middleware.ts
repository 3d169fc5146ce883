import type Koa from 'koa';
import type { Logger } from '../../src/logger.js';
import { storageFaultCode, storageUnavailable } from '../storage/storage-fault.js';
import { isOpenAiPath, openAiErrorBody } from '../openai/openai-errors.js';
import { ApiError, ERROR_CODES, errorBody, type ErrorCode } from './errors.js';

/** What a client sees for a Koa/http-errors 4xx status, when the error carries no message of its own. */
const CODE_FOR_STATUS: Record<number, { code: ErrorCode; message: string }> = {
  400: { code: 'INVALID_REQUEST', message: 'Invalid request' },
  401: { code: 'UNAUTHORIZED', message: 'Missing or invalid token' },
  404: { code: 'NOT_FOUND', message: 'Not found' },
  405: { code: 'METHOD_NOT_ALLOWED', message: 'Method not allowed' },
  413: { code: 'PAYLOAD_TOO_LARGE', message: 'Request body too large' },
  429: { code: 'RATE_LIMITED', message: 'Too many requests' },
};

const INTERNAL_MESSAGE = 'Internal server error';

// The socket went away under us: nothing to answer, nothing an operator must act on.
const CLIENT_GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

interface HttpLikeError {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
  headers?: unknown;
  code?: unknown;
}

/**
 * The one place that turns a thrown error into a response. ApiErrors answer with their
 * registered code and message (in OpenAI's shape on /v1); http-errors with a 4xx status (body parser, router,
 * `ctx.throw(400)`) map to the matching code; anything else is a 500 whose body says
 * nothing about the cause. Errors worth logging go to the app's `error` event, which
 * `handleAppError` logs, so each failure is logged exactly once. A storage fault (disk
 * full, read-only state dir) is 503 STORAGE_UNAVAILABLE, and `onStorageFault` hears of it
 * (GET /health then says degraded).
 */
export function createErrorMiddleware(options: { onStorageFault?: (err: unknown) => void } = {}): Koa.Middleware {
  return async function errorMiddleware(ctx, next) {
    try {
      await next();
    } catch (caught) {
      let thrown = caught;
      if (storageFaultCode(thrown)) {
        options.onStorageFault?.(thrown);
        if (!(thrown instanceof ApiError)) thrown = storageUnavailable(thrown);
      }
      const { status, code, message, headers, log } = describe(thrown);
      if (log) ctx.app.emit('error', thrown, ctx);
      // The response has started, or the client is gone: too late to answer.
      if (ctx.headerSent || !ctx.writable) return;
      ctx.status = status;
      ctx.set(headers);
      // OpenAI's SDKs read their own error shape; every other client reads ours.
      ctx.body = isOpenAiPath(ctx.path) ? openAiErrorBody(code, message, thrown instanceof ApiError ? thrown.param : undefined) : errorBody(code, message);
    }
  };
}

function describe(thrown: unknown): { status: number; code: ErrorCode; message: string; headers: Record<string, string>; log: boolean } {
  if (thrown instanceof ApiError) {
    // A 5xx ApiError (AGENT_ERROR, CHANNEL_ERROR) is still something an operator wants to see.
    return { status: thrown.status, code: thrown.code, message: thrown.message, headers: thrown.headers, log: thrown.status >= 500 };
  }
  const err = (thrown ?? {}) as HttpLikeError;
  const status = Number(err.status ?? err.statusCode);
  if (Number.isInteger(status) && status >= 400 && status < 500) {
    const known = CODE_FOR_STATUS[status] ?? CODE_FOR_STATUS[400]!;
    // http-errors only sets `expose` for 4xx, and only then is the message meant for clients.
    const message = err.expose === true && typeof err.message === 'string' && err.message ? err.message : known.message;
    return { status: ERROR_CODES[known.code].status, code: known.code, message, headers: stringHeaders(err.headers), log: false };
  }
  return { status: 500, code: 'INTERNAL_ERROR', message: INTERNAL_MESSAGE, headers: {}, log: true };
}

function stringHeaders(headers: unknown): Record<string, string> {
  if (headers === null || typeof headers !== 'object') return {};
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-type' || lower === 'content-length') continue;
    if (typeof value === 'string' || typeof value === 'number') result[name] = String(value);
  }
  return result;
}

/**
 * Listener for the app's `error` event: the error middleware's 5xx and the errors Koa
 * reports itself (a response stream failing after the headers went out). Registering it
 * also keeps Koa from printing its own stack traces to stderr.
 */
export function handleAppError(logger: Logger): (err: unknown, ctx?: Koa.Context) => void {
  return (err, ctx) => {
    const where = ctx ? { method: ctx.method, path: ctx.path } : {};
    const code = (err as HttpLikeError | null)?.code;
    if (typeof code === 'string' && CLIENT_GONE_CODES.has(code)) {
      logger.debug({ err, ...where }, 'Client went away before the response was written');
      return;
    }
    if (err instanceof ApiError) {
      logger.warn({ err, ...where }, `Request failed with ${err.code}; the client was told why`);
      return;
    }
    logger.error({ err, ...where }, 'Request failed with an unexpected error; answered 500 INTERNAL_ERROR');
  };
}
