import type Router from '@koa/router';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { AgentService } from '../agent/agent-service.js';
import { defaultAgentId } from '../agent/agents.js';
import type { ToolRegistry } from '../agent/tool-registry.js';
import type { KeyedQueue } from '../sessions/session-queue.js';
import type { SessionStore } from '../sessions/session-store.js';
import { createChannelRegistry } from './registry.js';
import type { Channel, ChannelRegistry } from './types.js';
import { createWebchatChannel } from './webchat.js';

export interface ChannelFeatureOptions {
  config: Config;
  logger: Logger;
  stateDir: string;
  store: SessionStore;
  queue: KeyedQueue;
  agent: AgentService;
  tools: ToolRegistry;
}

/** The channels, the message service and their routes, as features.ts mounts them. */
export interface ChannelFeature {
  channels: ChannelRegistry;
  routers: Router[];
  /** Background work (Telegram long polling): only in the worker that owns it. */
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the enabled channels and everything that talks to them. */
export function createChannelFeature(options: ChannelFeatureOptions): ChannelFeature {
  const { config, store, queue } = options;
  const logger = options.logger.child({ component: 'channels' });
  const list: Channel[] = [createWebchatChannel({ store, queue, agentId: () => defaultAgentId(config) })];
  const channels = createChannelRegistry(list, logger);

  return {
    channels,
    routers: [],
    startBackground: () => channels.start(),
    stopBackground: () => channels.stop(),
    async close() {
      await channels.stop();
    },
  };
}
