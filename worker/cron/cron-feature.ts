import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { AgentService } from '../agent/agent-service.js';
import type { ToolRegistry } from '../agent/tool-registry.js';
import type { ChannelRegistry } from '../channels/types.js';
import { loadPiAi } from '../agent/providers.js';
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
  /**
   * Loads the model library when enabled jobs exist (seconds on a busy machine), before
   * the worker reports ready: after a restart the first run is then not late because the
   * new worker was cold, and the old worker keeps the timers meanwhile.
   */
  warm(): Promise<void>;
  /** Timers run only in the worker that owns background services (SPEC 3). */
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
  /**
   * Stops the timers and lets runs in progress finish and be recorded until `deadline`
   * (epoch ms; default: the drain bound from now); call before the agent is closed. A run
   * the agent then cancels is left, marked abandoned, for the next worker that owns the
   * timers, which finishes it once (without a second model call when its turn was stored).
   */
  close(deadline?: number): Promise<void>;
  /** Resolves when runs cut by the agent's close have been recorded or left (bounded). */
  settled(): Promise<void>;
}

// Room left before the drain deadline for the agent's cancel and the rest of the shutdown;
// the supervisor kills a worker one second after the drain bound.
const CLOSE_MARGIN_MS = 500;
// After the agent cancelled what was left, how long its runs get to mark themselves abandoned.
const SETTLE_WAIT_MS = 500;

export function createCronFeature(options: CronFeatureOptions): CronFeature {
  const { config, agent, channels, tools } = options;
  const logger = options.logger.child({ component: 'cron' });
  const store = createCronStore({ dir: options.dir, logger });
  // A run recorded by this worker may leave an occurrence owed (it fell during the run).
  const runner = createCronRunner({ store, agent, channels, logger, onFinished: (id) => scheduler.refresh(id), metrics: options.metrics });
  const scheduler = createCronScheduler({ store, runner, logger });
  const cron = createCronService({ config, store, runner, scheduler, channels });
  for (const tool of createCronTools(cron, channels)) tools.register(tool);

  return {
    cron,
    // The routes' module loads on first use (see lazyRoutes).
    routers: [lazyRoutes(['/api/cron'], async () => (await import('../routes/cron.js')).createCronRouter(cron))],
    async warm() {
      let enabled = false;
      try {
        enabled = store.list().some((job) => job.enabled);
      } catch {
        /* the scheduler reports an unreadable dir when it starts */
      }
      // A failure here is the first run's to report.
      if (enabled) await loadPiAi().catch(() => {});
    },
    async startBackground() {
      scheduler.start();
    },
    async stopBackground() {
      scheduler.stop();
    },
    async close(deadline = Date.now() + config.gateway.drainTimeoutMs) {
      scheduler.stop();
      await runner.idle(deadline - CLOSE_MARGIN_MS - Date.now());
      runner.abandon();
    },
    settled: () => runner.idle(SETTLE_WAIT_MS),
  };
}
