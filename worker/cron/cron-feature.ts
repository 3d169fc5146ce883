import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { AgentService } from '../agent/agent-service.js';
import type { ToolRegistry } from '../agent/tool-registry.js';
import type { ChannelRegistry } from '../channels/types.js';
import { lazyRoutes, type Routes } from '../http/lazy-routes.js';
import type { Metrics } from '../metrics/metrics.js';
import { createCronRunner } from './cron-runner.js';
import { createCronScheduler } from './cron-scheduler.js';
import { createCronService, type CronService } from './cron-service.js';
import { createCronStore } from './cron-store.js';
import { createCronTools } from './cron-tools.js';

export interface CronFeatureOptions {
  config: Config;
  logger: Logger;
  /** `<state>/cron` */
  dir: string;
  agent: AgentService;
  channels: ChannelRegistry;
  tools: ToolRegistry;
  metrics?: Metrics;
}

/** Cron jobs as features.ts mounts them: the service, its routes, its tools, and the timers. */
export interface CronFeature {
  cron: CronService;
  routers: Routes[];
  /** Timers run only in the worker that owns background services (SPEC 3). */
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
  /**
   * Stops the timers and gives runs in progress a bounded moment to finish; call before the
   * agent is closed. A run the agent then cancels records itself as failed, or, if the
   * worker exits first, is recorded as interrupted by the next worker that owns the timers.
   */
  close(): Promise<void>;
}

// Within the default drain bound (5 s) with room for the rest of the shutdown.
const CLOSE_WAIT_MS = 2000;

export function createCronFeature(options: CronFeatureOptions): CronFeature {
  const { config, agent, channels, tools } = options;
  const logger = options.logger.child({ component: 'cron' });
  const store = createCronStore({ dir: options.dir, logger });
  const runner = createCronRunner({ store, agent, channels, logger, metrics: options.metrics });
  const scheduler = createCronScheduler({ store, runner, logger });
  const cron = createCronService({ config, store, runner, scheduler, channels });
  for (const tool of createCronTools(cron, channels)) tools.register(tool);

  return {
    cron,
    // The routes' module loads on first use (see lazyRoutes).
    routers: [lazyRoutes(['/api/cron'], async () => (await import('../routes/cron.js')).createCronRouter(cron))],
    async startBackground() {
      scheduler.start();
    },
    async stopBackground() {
      scheduler.stop();
    },
    async close() {
      scheduler.stop();
      await runner.idle(CLOSE_WAIT_MS);
    },
  };
}
