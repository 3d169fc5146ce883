import Router from '@koa/router';
import type { Readiness } from '../readiness.js';

/**
 * `GET /readyz`: open, for load balancers and orchestrators. 200 `{status:"ready", checks}`
 * when every readiness check passes, else 503 `{status:"not_ready", checks}` where each
 * failing check gives its reason.
 */
export function createReadyzRouter(readiness: Readiness): Router {
  const router = new Router();
  router.get('/readyz', (ctx) => {
    const { ready, checks } = readiness.report();
    ctx.status = ready ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks };
  });
  return router;
}
