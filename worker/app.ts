import Koa from 'koa';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import { createBearerAuth } from './http/auth.js';
import { createClientAddress, createProxyTrust } from './http/client-address.js';
import { createJsonBody } from './http/body.js';
import { createCors } from './http/cors.js';
import { createErrorMiddleware, handleAppError } from './http/error-middleware.js';
import { lazyRoutes, type Routes } from './http/lazy-routes.js';
import { createNotFound } from './http/not-found.js';
import { createAuthFailureLimiter, type AuthFailureLimiterOptions } from './http/rate-limit.js';
import { createRequestLog } from './http/request-log.js';
import { createUiStatic } from './http/ui-static.js';
import { createHealthRouter } from './routes/health.js';
import { createLogsRouter } from './routes/logs.js';
import type { StorageHealth } from './storage/storage-health.js';
import { createMetricsRouter } from './routes/metrics.js';
import { createReadyzRouter } from './routes/readyz.js';
import { NO_METRICS, type Metrics } from './metrics/metrics.js';
import { createReadiness, type Readiness } from './readiness.js';
import { createOpenApiRouter } from './routes/openapi.js';

export interface AppOptions {
  config: Config;
  logger: Logger;
  /** The current log file, served by GET /api/logs. */
  logFile: string;
  /** ms since epoch; /health's uptime counts from here. Default: when createApp runs. */
  startedAt?: number;
  /** Feature routers (agent, sessions, channels, cron), mounted behind auth; some load on first use. */
  routers?: Routes[];
  /** Whether the state dir is writable: GET /health reports it, storage faults of requests are reported to it. */
  storage?: StorageHealth;
  /** Failed-auth lockout numbers; tests shrink them. Defaults: 10 in 60 s, 5 min lockout. */
  authLimits?: AuthFailureLimiterOptions;
  /** What GET /metrics serves and request timings go to; default: records nothing, no /metrics. */
  metrics?: Metrics;
  /** The checks behind GET /readyz; default: none (always ready). */
  readiness?: Readiness;
  /** Aborted when the worker starts draining: open-ended streams (the live log) end then. */
  draining?: AbortSignal;
  /** The folder the web page is served from (default: dist/ui). */
  uiRoot?: string;
}

/** The worker's Koa app, and a way to load now what it otherwise loads after its first request. */
export type GatewayApp = Koa & {
  /** Loads the body parser, the metrics library and the routes that load on first use; resolves when done (a failed load is left to the first request). */
  warm(): Promise<void>;
};

/**
 * Builds the worker's Koa app. Nothing listens here: the worker hands `app.callback()`
 * to the socket the supervisor gave it, and tests to a server on port 0.
 */
export function createApp(options: AppOptions): GatewayApp {
  const { config } = options;
  const logger = options.logger.child({ component: 'http' });
  const app = new Koa();
  // Koa's own proxy support believes the left-most X-Forwarded-For entry, which the client
  // writes: it could pick a fresh address for every failed token guess. The client address
  // middleware believes only gateway.trustedProxies.
  app.proxy = false;
  app.on('error', handleAppError(logger));
  if (!config.gateway.auth.token) logger.warn('No gateway token configured; every /api request will be refused');

  const logs = { logFile: options.logFile, maxFiles: config.logging.maxFiles };
  const draining = options.draining ?? new AbortController().signal;
  const routers: Routes[] = [
    // The file follower loads on the first stream request.
    lazyRoutes(['/api/logs/stream'], async () => (await import('./routes/logs-stream.js')).createLogsStreamRouter({ ...logs, draining })),
    createLogsRouter(logs),
    ...(options.routers ?? []),
  ];
  const health = createHealthRouter({ startedAt: options.startedAt ?? Date.now(), storage: options.storage });
  const jsonBody = createJsonBody({ limit: config.gateway.bodyLimit });
  const metrics = options.metrics ?? NO_METRICS;
  const metricsOpen = config.gateway.metrics.public;
  const readyz = createReadyzRouter(options.readiness ?? createReadiness());
  const metricsRoutes = metrics.enabled ? createMetricsRouter(metrics, { open: metricsOpen }) : null;
  const openapi = createOpenApiRouter(() => [health, openapi, readyz, ...(metricsRoutes ? [metricsRoutes] : []), ...routers]);

  app.use(createErrorMiddleware({ onStorageFault: (err) => options.storage?.report(err) }));
  app.use(createClientAddress(createProxyTrust(config.gateway.trustedProxies)));
  const preloadAll = () => [jsonBody.preload(), metrics.preload(), ...routers.map((router) => router.preload?.())];
  app.use(warmUpAfterFirstRequest(preloadAll));
  app.use(createRequestLog(logger, metrics.enabled ? (ctx, status, seconds) => metrics.httpRequest(ctx.method, routeTemplate(ctx), status, seconds) : undefined));
  app.use(createCors({ origins: config.gateway.cors.origins }));
  app.use(health.routes());
  app.use(readyz.routes());
  app.use(openapi.routes());
  app.use(createUiStatic({ root: options.uiRoot }));
  app.use(createBearerAuth({ token: config.gateway.auth.token, limiter: createAuthFailureLimiter(options.authLimits), lockoutLoopback: config.gateway.auth.lockoutLoopback, logger, alsoProtected: metrics.enabled && !metricsOpen ? ['/metrics'] : [] }));
  if (metricsRoutes) app.use(metricsRoutes.routes());
  app.use(jsonBody.middleware);
  for (const router of routers) app.use(router.routes());
  app.use(createNotFound());
  return Object.assign(app, { warm: async () => void (await Promise.all(preloadAll())) });
}

/** The template of the route that answered (`/api/sessions/:key`), never the raw path: a label value per URL would grow without bound. */
function routeTemplate(ctx: Koa.Context): string {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  return typeof matched === 'string' ? matched : 'unmatched';
}

/**
 * The body parser and some routes load on first use, so that a starting worker serves
 * /health as soon as it can (after a crash, requests wait in the backlog meanwhile). Once
 * the worker has answered its first request, they load in the background, so that the
 * first API request need not wait for them either.
 */
function warmUpAfterFirstRequest(preload: () => unknown[]): Koa.Middleware {
  let started = false;
  return async function warmUp(ctx, next) {
    if (!started) {
      started = true;
      // After the answer is written, and after the other requests already read are handled.
      ctx.res.once('close', () => setImmediate(() => void Promise.all(preload())));
    }
    await next();
  };
}
