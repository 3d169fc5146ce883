import type Koa from 'koa';

export interface CorsOptions {
  /** `gateway.cors.origins`: exact origins, or "*" for any. Empty turns CORS off. */
  origins: readonly string[];
}

const ALLOW_METHODS = 'GET,POST,DELETE,OPTIONS';
const ALLOW_HEADERS = 'Authorization,Content-Type,Idempotency-Key,X-Xopc-Session';
// Lets browser code read the lockout delay of a 429, and which session an OpenAI-style call used.
const EXPOSE_HEADERS = 'Retry-After,X-Xopc-Session';
// Browsers cap this themselves (Chrome: 2 h); 10 minutes keeps config changes visible soon.
const PREFLIGHT_MAX_AGE_S = '600';

/**
 * CORS for the origins in the config, off when there are none. A listed origin gets its
 * own value back (never a literal "*", so answers differ per origin: Vary: Origin), on
 * errors too. Preflights are answered here, before auth, since browsers send them
 * without the Authorization header. Unlisted origins get no CORS headers at all.
 */
export function createCors(options: CorsOptions): Koa.Middleware {
  const anyOrigin = options.origins.includes('*');
  const allowed = new Set(options.origins);

  return async function cors(ctx, next) {
    if (allowed.size === 0) return next();
    ctx.vary('Origin');
    const origin = ctx.get('origin');
    if (!origin || !(anyOrigin || allowed.has(origin))) return next();

    ctx.set('Access-Control-Allow-Origin', origin);
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', ALLOW_METHODS);
      ctx.set('Access-Control-Allow-Headers', ALLOW_HEADERS);
      ctx.set('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_S);
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    return next();
  };
}
