import type Router from '@koa/router';

type RoutesMiddleware = ReturnType<Router['routes']>;

/** What the app mounts behind auth: a @koa/router Router, or routes that load on first use. */
export interface Routes {
  routes(): RoutesMiddleware;
  /** Starts loading now, if the routes load lazily; resolves when they are loaded (or failed to). */
  preload?(): Promise<void>;
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
  const routes = loadOnce(async () => (await load()).routes());
  const middleware: RoutesMiddleware = async (ctx, next) => {
    const path = ctx.path.toLowerCase();
    if (!lowered.some((prefix) => path.startsWith(prefix))) return next();
    return (await routes.get())(ctx, next);
  };
  return { routes: () => middleware, preload: routes.preload };
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
