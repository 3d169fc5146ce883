import Router from '@koa/router';
import type { StorageHealth } from '../storage/storage-health.js';

export interface HealthRouterOptions {
  /** When the worker started (ms since epoch); uptime counts from here. */
  startedAt: number;
  /** Whether the state dir is writable; without it the gateway always says healthy. */
  storage?: StorageHealth;
}

/**
 * `GET /health`: open, no auth, for load balancers, `status` and `restart` (uptime reset).
 * `{status:"healthy", uptime}`, or `{status:"degraded", uptime, reason, since}` while the
 * gateway cannot write its state; still 200 then, since the worker runs and serves reads.
 */
export function createHealthRouter(options: HealthRouterOptions): Router {
  const router = new Router();
  router.get('/health', (ctx) => {
    const uptime = Math.max(0, Math.floor((Date.now() - options.startedAt) / 1000));
    const storage = options.storage?.state() ?? { ok: true };
    ctx.body = storage.ok ? { status: 'healthy', uptime } : { status: 'degraded', uptime, reason: storage.reason, since: storage.since };
  });
  return router;
}
