import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { apiError } from './errors.js';
import type { AuthFailureLimiter } from './rate-limit.js';

export interface BearerAuthOptions {
  /** The gateway token; null means nothing can authenticate (fail closed). */
  token: string | null;
  limiter: AuthFailureLimiter;
}

// The router matches paths case-insensitively (/API/sessions reaches /api/sessions), so the
// gate must look at the same path the router will see, not the literal one.
const PROTECTED = /^\/(api|v1)(\/|$)/;
// Only the exact webhook route shape is open; anything longer still needs the token.
const WEBHOOK = /^\/api\/webhook\/[^/]+\/?$/;

/**
 * `Authorization: Bearer <token>` on /api/* and /v1/* (the OpenAI-compatible API), except /api/webhook/:channel, which channels
 * authenticate with their own secrets. An address that keeps presenting wrong credentials
 * is locked out of every /api route, right token or not, until its lockout ends.
 */
export function createBearerAuth(options: BearerAuthOptions): Koa.Middleware {
  const { limiter } = options;
  const expected = options.token ? digest(options.token) : null;

  return async function bearerAuth(ctx, next) {
    const path = normalize(ctx.path);
    if (!PROTECTED.test(path)) return next();

    const address = ctx.request.ip || 'unknown';
    const lockedMs = limiter.lockedFor(address);
    if (lockedMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(lockedMs / 1000));
      const error = apiError('RATE_LIMITED', `Too many failed authentication attempts from this address; retry in ${retryAfter} s`);
      error.headers['Retry-After'] = String(retryAfter);
      throw error;
    }
    if (WEBHOOK.test(path)) return next();

    const header = ctx.get('authorization');
    if (!header) throw unauthorized('Missing Authorization header; send "Authorization: Bearer <token>"');
    const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
    // Compare digests: equal lengths for timingSafeEqual, and the token's length does not leak.
    if (!presented || !expected || !timingSafeEqual(digest(presented), expected)) {
      // Only presented credentials count as attempts; a request without any is no guess.
      limiter.recordFailure(address);
      throw unauthorized('Invalid token');
    }
    return next();
  };
}

function unauthorized(message: string) {
  const error = apiError('UNAUTHORIZED', message);
  error.headers['WWW-Authenticate'] = 'Bearer realm="xopc"';
  return error;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function normalize(path: string): string {
  return path.toLowerCase().replace(/\/{2,}/g, '/');
}
