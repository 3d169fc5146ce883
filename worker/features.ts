import { join } from 'node:path';
import type { Config } from '../src/config.js';
import type { Logger } from '../src/logger.js';
import { createAgentService, type AgentService } from './agent/agent-service.js';
import { defaultAgentId } from './agent/agents.js';
import { chooseModel, requireModel } from './agent/default-model.js';
import { createToolRegistry, type ToolRegistry } from './agent/tool-registry.js';
import { createCurrentTimeTool } from './agent/tools/current-time.js';
import { createChannelFeature } from './channels/channel-feature.js';
import type { ChannelRegistry } from './channels/types.js';
import { createCronFeature } from './cron/cron-feature.js';
import { lazyRoutes, type Routes } from './http/lazy-routes.js';
import { NO_METRICS, type Metrics } from './metrics/metrics.js';
import type { Readiness } from './readiness.js';
import { createKeyedQueue } from './sessions/session-queue.js';
import { createSessionService, type SessionService } from './sessions/session-service.js';
import { createSessionStore, type SessionStore } from './sessions/session-store.js';
import { createStorageHealth, type StorageHealth } from './storage/storage-health.js';

/** What the worker's feature modules (agent, sessions, channels, cron) get to build themselves. */
export interface FeatureContext {
  config: Config;
  logger: Logger;
  /** The state dir (`XOPC_HOME` or ~/.xopc). */
  stateDir: string;
  /** Where features record what GET /metrics shows; default: nothing is recorded. */
  metrics?: Metrics;
  /** Where features register what GET /readyz checks. */
  readiness?: Readiness;
}

/**
 * Everything the worker runs beyond the HTTP basics. `routers` are mounted under the
 * auth middleware; background services (channel polling, cron timers) only run
 * between `startBackground` and `stopBackground`, which the supervisor orders so
 * that one worker at a time owns them (SPEC 3, handover rule).
 */
export interface Features {
  routers: Routes[];
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
  /** Release everything (files, sockets) before the worker exits; work in progress may go on until `deadline` (epoch ms, the drain bound). */
  close(deadline?: number): Promise<void>;
  /** The services, for features built on them (channels and cron run agent turns and add tools). */
  services: {
    agent: AgentService;
    sessions: SessionService;
    store: SessionStore;
    tools: ToolRegistry;
    /** The enabled channels (telegram, webhook, webchat): `send(channel, chatId, text)` delivers a message. */
    channels: ChannelRegistry;
    /** Whether the state dir is writable (GET /health). */
    storage: StorageHealth;
  };
}

/** Builds the worker's features. Each feature (agent, sessions, channels, cron) adds its part here. */
export async function createFeatures(context: FeatureContext): Promise<Features> {
  const { config, logger, stateDir } = context;
  const metrics = context.metrics ?? NO_METRICS;
  logAgents(config, logger);

  // One queue for the whole worker: agent turns and session deletes of one session run in order.
  const queue = createKeyedQueue();
  const storage = createStorageHealth({ stateDir, logger });
  context.readiness?.register('storage', () => {
    const state = storage.state();
    return state.ok ? null : state.reason;
  });
  const store = createSessionStore({ dir: join(stateDir, 'sessions'), logger: logger.child({ component: 'sessions' }) });
  const tools = createToolRegistry();
  tools.register(createCurrentTimeTool());
  const agent = createAgentService({ config, logger, store, queue, tools, metrics });
  const sessions = createSessionService({ config, store, queue });

  // --- channels and messages: registry, /api/message, /api/webhook/:channel, send tool ---
  const channelFeature = await createChannelFeature({ config, logger, stateDir, store, queue, agent, tools, storage, metrics });
  const { channels } = channelFeature;
  // --- end channels ---

  // --- cron: jobs in <state>/cron, /api/cron, cron tools; timers only between start/stopBackground ---
  const cronFeature = createCronFeature({ config, logger, dir: join(stateDir, 'cron'), agent, channels, tools, metrics });
  await cronFeature.warm();
  // --- end cron ---

  return {
    // Their modules load on first use (see lazyRoutes).
    routers: [
      lazyRoutes(['/api/agent'], async () => (await import('./routes/agent.js')).createAgentRouter({ config, agent })),
      lazyRoutes(['/api/sessions'], async () => (await import('./routes/sessions.js')).createSessionsRouter(sessions)),
      ...(config.gateway.openai.enabled ? [lazyRoutes(['/v1/'], async () => (await import('./routes/openai.js')).createOpenAiRouter({ config, agent }))] : []),
      ...channelFeature.routers,
      ...cronFeature.routers,
    ],
    async startBackground() {
      await channelFeature.startBackground();
      await cronFeature.startBackground();
    },
    async stopBackground() {
      await cronFeature.stopBackground();
      await channelFeature.stopBackground();
    },
    async close(deadline) {
      // Cron first: a run in progress gets until the deadline to finish (and deliver) before the agent cancels what is left.
      await cronFeature.close(deadline);
      await channelFeature.close();
      await agent.close();
      await cronFeature.settled();
      storage.close();
    },
    services: { agent, sessions, store, tools, channels, storage },
  };
}

/** Says at start-up which model each agent will use and why, and what is wrong with the agents' config. */
function logAgents(config: Config, logger: Logger): void {
  const fallback = defaultAgentId(config);
  if (!fallback) {
    logger.warn('No agent is enabled in agents.list: /api/agent will answer AGENT_ERROR until one is');
  } else if (config.agents.default !== fallback) {
    logger.warn({ configured: config.agents.default, using: fallback }, 'agents.default is not an enabled agent; using the first enabled one');
  }
  const log = logger.child({ component: 'agent' });
  for (const agent of config.agents.list.filter((entry) => entry.enabled)) {
    const choice = chooseModel(config, agent.id);
    try {
      const model = requireModel(choice, agent.id);
      const why = choice.chosenBy ? `${choice.setting} is not set; chosen because ${choice.chosenBy}` : `from ${choice.setting}`;
      log.info({ agent: agent.id, model, setting: choice.setting }, `agent ${agent.id} uses model ${model} (${why})`);
    } catch (err) {
      log.warn({ agent: agent.id }, (err as Error).message);
    }
  }
}
