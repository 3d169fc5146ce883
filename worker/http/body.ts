import type Koa from 'koa';
import { parseSize } from '../../src/size.js';
import { apiError } from './errors.js';
import { loadOnce } from './lazy-routes.js';

export interface JsonBodyOptions {
  /** `gateway.bodyLimit`: "1mb", "512kb" or a number of bytes. */
  limit: string | number;
}

// What counts as JSON, for the Content-Type check and the parser alike.
const JSON_TYPES = ['application/json', 'application/*+json'];
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const MAX_DETAIL_LENGTH = 200;

/** The JSON body middleware; `preload` loads the parser before the first request needs it. */
export interface JsonBody {
  middleware: Koa.Middleware;
  preload(): Promise<void>;
}

/**
 * Parses JSON request bodies into `ctx.request.body` and keeps the exact text in
 * `ctx.request.rawBody` (the webhook channel checks an HMAC over it). Every failure is
 * an API error: 400 for malformed JSON or a body that is not JSON, 413 past the limit,
 * whether the client announced the size (Content-Length) or streamed it (chunked).
 *
 * koa-bodyparser (with co-body, qs and iconv-lite, ~45 ms to load) loads on first use:
 * /health never needs it, and the worker should serve /health as soon as it can.
 */
export function createJsonBody(options: JsonBodyOptions): JsonBody {
  const limitBytes = parseSize(options.limit);
  const limitText = typeof options.limit === 'string' ? options.limit : `${limitBytes} bytes`;
  const parser = loadOnce(async () => {
    const { default: bodyParser } = await import('koa-bodyparser');
    return bodyParser({
      enableTypes: ['json'],
      jsonLimit: String(limitBytes),
      strict: true,
      detectJSON: (ctx) => isJson(ctx),
    });
  });

  const middleware: Koa.Middleware = async function jsonBody(ctx, next) {
    if (METHODS_WITH_BODY.has(ctx.method) && hasBody(ctx) && !isJson(ctx)) {
      const type = ctx.get('content-type');
      throw apiError('INVALID_REQUEST', `Content-Type must be application/json (got ${type ? `"${clip(type)}"` : 'none'})`);
    }
    const parse = await parser.get();
    let parsed = false;
    try {
      await parse(ctx, async () => {
        parsed = true;
      });
    } catch (err) {
      throw translate(err, limitText);
    }
    // The parser's own `next` only marks success; the rest of the chain runs outside the
    // try so that a route's errors are not mistaken for body errors.
    if (parsed) await next();
  };
  return { middleware, preload: parser.preload };
}

function translate(err: unknown, limitText: string): Error {
  const { type, status, message } = err as { type?: string; status?: number; message?: string };
  if (type === 'entity.too.large' || status === 413) {
    const error = apiError('PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${limitText} (gateway.bodyLimit)`);
    // Without this Node keeps the connection open and reads (or waits for) the rest of
    // an upload nobody will look at.
    error.headers['Connection'] = 'close';
    return error;
  }
  if (type === 'request.size.invalid') return apiError('INVALID_REQUEST', 'Request body length does not match Content-Length');
  if (type === 'request.aborted') return apiError('INVALID_REQUEST', 'Request aborted while the body was being read');
  if (err instanceof SyntaxError) return apiError('INVALID_REQUEST', `Malformed JSON body: ${clip(err.message)}`);
  // Anything else that fails while the body is read comes from the request itself: an
  // unsupported charset or Content-Encoding (415 from the parser), a gzip/deflate/br body
  // that does not decode (zlib's error, no status), a chunk framing error from Node's
  // HTTP parser. None of them is a server fault.
  return apiError('INVALID_REQUEST', `Cannot read request body: ${clip(message ?? String(status ?? 'unreadable'))}`, { cause: err });
}

function isJson(ctx: Koa.Context): boolean {
  return Boolean(ctx.request.is(JSON_TYPES));
}

function hasBody(ctx: Koa.Context): boolean {
  return ctx.get('transfer-encoding') !== '' || Number(ctx.get('content-length') || 0) > 0;
}

function clip(text: string): string {
  return text.length > MAX_DETAIL_LENGTH ? `${text.slice(0, MAX_DETAIL_LENGTH)}...` : text;
}
