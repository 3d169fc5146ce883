import type Router from '@koa/router';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';

/** What the worker's feature modules (agent, sessions, channels, cron) get to build themselves. */
export interface FeatureContext {
  config: Config;
  logger: Logger;
  /** The state dir (`XOPC_HOME` or ~/.xopc). */
  stateDir: string;
}

/**
 * Everything the worker runs beyond the HTTP basics. `routers` are mounted under the
 * auth middleware; background services (channel polling, cron timers) only run
 * between `startBackground` and `stopBackground`, which the supervisor orders so
 * that one worker at a time owns them (SPEC 3, handover rule).
 */
export interface Features {
  routers: Router[];
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
  /** Release everything (files, sockets) before the worker exits. */
  close(): Promise<void>;
}

/** Builds the worker's features. Each feature issue adds its part here. */
export async function createFeatures(_context: FeatureContext): Promise<Features> {
  return {
    routers: [],
    async startBackground() {},
    async stopBackground() {},
    async close() {},
  };
}
