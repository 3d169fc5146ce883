import Router from '@koa/router';

export interface HealthRouterOptions {
  /** When the worker started (ms since epoch); uptime counts from here. */
  startedAt: number;
}

/** `GET /health`: open, no auth, for load balancers, `status` and `restart` (uptime reset). */
export function createHealthRouter(options: HealthRouterOptions): Router {
  const router = new Router();
  router.get('/health', (ctx) => {
    const uptime = Math.max(0, Math.floor((Date.now() - options.startedAt) / 1000));
    ctx.body = { status: 'healthy', uptime };
  });
  return router;
}
