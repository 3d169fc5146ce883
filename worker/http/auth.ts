import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { ApiError, apiError } from './errors.js';
import type { Logger } from '../../src/logger.js';
import type { ClientInfo } from './client-address.js';
import type { AuthFailureLimiter } from './rate-limit.js';

export interface BearerAuthOptions {
  /** The gateway token; null means nothing can authenticate (fail closed). */
  token: string | null;
  limiter: AuthFailureLimiter;
  /** Whether local processes (ClientInfo.localDirect) count toward the lockout too. */
  lockoutLoopback: boolean;
  /** Where a lockout is reported (warn). */
  logger: Logger;
  /** Paths outside /api that need the token too (`/metrics`), compared as the router does. */
  alsoProtected?: string[];
}

// The router matches paths case-insensitively (/API/sessions reaches /api/sessions), so the
// gate must look at the same path the router will see, not the literal one.
const PROTECTED = /^\/(api|v1)(\/|$)/;
// Only the exact webhook route shape is open; anything longer still needs the token.
const WEBHOOK = /^\/api\/webhook\/[^/]+\/?$/;

/**
 * `Authorization: Bearer <token>` on /api/* and /v1/* (the OpenAI-compatible API), except /api/webhook/:channel, which channels
 * authenticate with their own secrets. An address that keeps presenting wrong credentials
 * (tokens, or webhook signatures and secrets) is locked out of every /api route, right
 * token or not, until its lockout ends. Processes on this machine talking to the gateway
 * directly are exempt unless `lockoutLoopback` is set: the lockout stops guessing from
 * outside, and must not let any local program lock the owner's own CLI out.
 */
export function createBearerAuth(options: BearerAuthOptions): Koa.Middleware {
  const { limiter } = options;
  const expected = options.token ? digest(options.token) : null;
  const alsoProtected = new Set((options.alsoProtected ?? []).map((path) => path.toLowerCase()));

  function recordFailure(address: string, what: string): void {
    if (!limiter.recordFailure(address)) return;
    const retryAfter = Math.ceil(limiter.lockedFor(address) / 1000);
    options.logger.warn({ address, retryAfter }, `${address} is locked out of /api for ${retryAfter} s after repeated ${what}; it gets 429 RATE_LIMITED until then, even with the right token`);
  }

  return async function bearerAuth(ctx, next) {
    const path = normalize(ctx.path);
    if (!PROTECTED.test(path) && !(alsoProtected.size > 0 && alsoProtected.has(path.replace(/\/$/, '')))) return next();

    const address = ctx.request.ip || 'unknown';
    const client = ctx.state.client as ClientInfo | undefined;
    const counted = options.lockoutLoopback || !client?.localDirect;
    const lockedMs = counted ? limiter.lockedFor(address) : 0;
    if (lockedMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(lockedMs / 1000));
      const error = apiError('RATE_LIMITED', `Too many failed authentication attempts from this address (${address}): it is locked out; retry in ${retryAfter} s`);
      error.headers['Retry-After'] = String(retryAfter);
      throw error;
    }
    if (WEBHOOK.test(path)) {
      try {
        return await next();
      } catch (err) {
        // A channel refusing a bad signature or secret: a guess like a wrong token.
        if (counted && err instanceof ApiError && err.code === 'UNAUTHORIZED') recordFailure(address, 'bad webhook signatures');
        throw err;
      }
    }

    const header = ctx.get('authorization');
    if (!header) throw unauthorized('Missing Authorization header; send "Authorization: Bearer <token>"');
    const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
    // Compare digests: equal lengths for timingSafeEqual, and the token's length does not leak.
    if (!presented || !expected || !timingSafeEqual(digest(presented), expected)) {
      // Only presented credentials count as attempts; a request without any is no guess.
      if (counted) recordFailure(address, 'wrong tokens');
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
