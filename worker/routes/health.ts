import * as v from 'valibot';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';

export interface HealthRouterOptions {
  /** When the worker started (ms since epoch); uptime counts from here. */
  startedAt: number;
}

/** `GET /health`: open, no auth, for load balancers, `status` and `restart` (uptime reset). */
export function createHealthRouter(options: HealthRouterOptions): Routes {
  const health = route({
    operationId: 'health',
    method: 'GET',
    path: '/health',
    tag: 'gateway',
    summary: 'Liveness: answers once the worker serves',
    auth: 'open',
    responses: {
      200: { description: 'Serving', schema: v.object({ status: v.literal('healthy'), uptime: v.pipe(v.number(), v.integer(), v.minValue(0), v.description('seconds since this worker started')) }) },
    },
    errors: [],
    example: {},
  }, (ctx) => {
    const uptime = Math.max(0, Math.floor((Date.now() - options.startedAt) / 1000));
    ctx.body = { status: 'healthy', uptime };
  });
  return routeGroup([health]);
}
