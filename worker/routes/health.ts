import * as v from 'valibot';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import type { StorageHealth } from '../storage/storage-health.js';

export interface HealthRouterOptions {
  /** When the worker started (ms since epoch); uptime counts from here. */
  startedAt: number;
  /** Whether the state dir is writable; without it the gateway always says healthy. */
  storage?: StorageHealth;
}

const uptime = v.pipe(v.number(), v.integer(), v.minValue(0), v.description('seconds since this worker started'));

/**
 * `GET /health`: open, no auth, for load balancers, `status` and `restart` (uptime reset).
 * `{status:"healthy", uptime}`, or `{status:"degraded", uptime, reason, since}` while the
 * gateway cannot write its state; still 200 then, since the worker runs and serves reads.
 */
export function createHealthRouter(options: HealthRouterOptions): Routes {
  const health = route({
    operationId: 'health',
    method: 'GET',
    path: '/health',
    tag: 'gateway',
    summary: 'Liveness: answers once the worker serves; degraded while it cannot write its state',
    auth: 'open',
    responses: {
      200: {
        description: 'Serving',
        schema: v.union([
          v.object({ status: v.literal('healthy'), uptime }),
          v.object({
            status: v.literal('degraded'),
            uptime,
            reason: v.pipe(v.string(), v.description('what fails, e.g. "cannot write the state dir: ENOSPC (no space left on device)"')),
            since: v.pipe(v.string(), v.isoTimestamp()),
          }),
        ]),
      },
    },
    errors: [],
    example: {},
  }, (ctx) => {
    const seconds = Math.max(0, Math.floor((Date.now() - options.startedAt) / 1000));
    const storage = options.storage?.state() ?? { ok: true };
    ctx.body = storage.ok ? { status: 'healthy', uptime: seconds } : { status: 'degraded', uptime: seconds, reason: storage.reason, since: storage.since };
  });
  return routeGroup([health]);
}
