import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import type { Metrics } from '../metrics/metrics.js';

/** `GET /metrics`: the Prometheus text format; behind the gateway token unless `gateway.metrics.public` (`open`). */
export function createMetricsRouter(metrics: Metrics, options: { open: boolean }): Routes {
  const scrape = route({
    operationId: 'metrics',
    method: 'GET',
    path: '/metrics',
    tag: 'gateway',
    summary: 'Metrics in the Prometheus text format (requests, agent, model calls, cron, channels, restarts, memory)',
    auth: options.open ? 'open' : 'bearer',
    responses: {
      200: { description: 'Prometheus text exposition format 0.0.4', contentType: 'text/plain; version=0.0.4; charset=utf-8' },
    },
    errors: [],
    example: {},
  }, async (ctx) => {
    const { contentType, body } = await metrics.render();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = contentType;
    ctx.body = body;
  });
  return routeGroup([scrape]);
}
