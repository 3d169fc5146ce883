import type Koa from 'koa';
import { apiError } from './errors.js';

/** What @koa/router leaves on the context: every route layer whose path matched, whatever its method. */
interface RoutedContext {
  matched?: Array<{ methods: string[] }>;
}

/**
 * The last middleware: a request no router answered. If some route has its path, the
 * method is what is wrong: 405 METHOD_NOT_ALLOWED with `Allow` listing the methods that
 * path takes (each router records the layers whose path matched in `ctx.matched`);
 * otherwise 404 NOT_FOUND.
 */
export function createNotFound(): Koa.Middleware {
  return async function notFound(ctx) {
    // A handler that set a body and called next() did answer.
    if (ctx.body !== undefined || ctx.status !== 404) return;
    const path = ctx.path.slice(0, 200);
    const allowed = [...new Set(((ctx as RoutedContext).matched ?? []).flatMap((layer) => layer.methods))];
    if (allowed.length > 0) {
      const error = apiError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${path}; it takes ${allowed.join(', ')}`);
      error.headers.Allow = allowed.join(', ');
      throw error;
    }
    throw apiError('NOT_FOUND', `No route for ${ctx.method} ${path}`);
  };
}
