import Router from '@koa/router';
import type { Metrics } from '../metrics/metrics.js';

/** `GET /metrics`: the Prometheus text format; behind the gateway token unless `gateway.metrics.public`. */
export function createMetricsRouter(metrics: Metrics): Router {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    const { contentType, body } = await metrics.render();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = contentType;
    ctx.body = body;
  });
  return router;
}
