import * as v from 'valibot';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import type { Readiness } from '../readiness.js';

const answer = v.object({
  status: v.picklist(['ready', 'not_ready']),
  checks: v.pipe(v.record(v.string(), v.string()), v.description('each readiness check by name: "ok", or why it is not ready')),
});

/**
 * `GET /readyz`: open, for load balancers and orchestrators. 200 when every readiness
 * check passes, else 503 where each failing check gives its reason.
 */
export function createReadyzRouter(readiness: Readiness): Routes {
  const readyz = route({
    operationId: 'readyz',
    method: 'GET',
    path: '/readyz',
    tag: 'gateway',
    summary: 'Readiness: whether this worker should get traffic (starting, draining, background services, ...)',
    auth: 'open',
    responses: {
      200: { description: 'Every check passes', schema: answer },
      503: { description: 'Starting, draining, or a check fails (named in `checks`)', schema: answer },
    },
    errors: [],
    example: {},
  }, (ctx) => {
    const { ready, checks } = readiness.report();
    ctx.status = ready ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks };
  });
  return routeGroup([readyz]);
}
