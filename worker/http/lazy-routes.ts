import type Router from '@koa/router';
import type { Route } from './route.js';

type RoutesMiddleware = ReturnType<Router['routes']>;

/** What the app mounts behind auth: a @koa/router Router, or routes that load on first use. */
export interface Routes {
  routes(): RoutesMiddleware;
  /** Starts loading now, if the routes load lazily; resolves when they are loaded (or failed to). */
  preload?(): Promise<void>;
  /**
   * The declared routes (see route.ts), for /openapi.json. Routes built with `routeGroup`
   * have them; a bare Router has none and is missing from the document (the README
   * endpoint table test then fails).
   */
  operations?(): Promise<Route[]>;
}

/**
 * Routes whose module (and its schema library) loads on first use, so that the worker
 * serves /health without waiting for it. A request whose path starts with one of
 * `prefixes` (compared case-insensitively, as the router compares paths) waits for the
 * load, once, and then goes through the loaded routes exactly as if they had been mounted
 * from the start; any other request passes by without loading anything. A load that
 * fails answers that request with the failure (a 500), and the next request tries again.
 */
export function lazyRoutes(prefixes: string[], load: () => Promise<Routes>): Routes {
  const lowered = prefixes.map((prefix) => prefix.toLowerCase());
  const loaded = loadOnce(async () => {
    const routes = await load();
    return { middleware: routes.routes(), operations: routes.operations?.bind(routes) };
  });
  const middleware: RoutesMiddleware = async (ctx, next) => {
    const path = ctx.path.toLowerCase();
    if (!lowered.some((prefix) => path.startsWith(prefix))) return next();
    return (await loaded.get()).middleware(ctx, next);
  };
  return {
    routes: () => middleware,
    preload: loaded.preload,
    operations: async () => (await (await loaded.get()).operations?.()) ?? [],
  };
}

/** A module-backed value loaded on first use: one shared load; a failed load is forgotten, so the next use tries again. */
export interface LoadOnce<T> {
  get(): Promise<T>;
  /** Starts loading now; resolves when loaded or failed (the failure is left to the next `get`). */
  preload(): Promise<void>;
}

export function loadOnce<T>(load: () => Promise<T>): LoadOnce<T> {
  let loading: Promise<T> | undefined;
  const get = (): Promise<T> => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };
  return {
    get,
    preload: () => get().then(
      () => undefined,
      () => undefined,
    ),
  };
}
