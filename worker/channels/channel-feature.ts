import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { AgentService } from '../agent/agent-service.js';
import { defaultAgentId } from '../agent/agents.js';
import type { ToolRegistry } from '../agent/tool-registry.js';
import { createIdempotencyStore, IDEMPOTENCY_TTL_MS } from '../messages/idempotency-store.js';
import { createMessageService, type MessageService } from '../messages/message-service.js';
import { createPendingStore } from '../messages/pending-store.js';
import { lazyRoutes, type Routes } from '../http/lazy-routes.js';
import { createWebhookRouter } from '../routes/webhook.js';
import type { KeyedQueue } from '../sessions/session-queue.js';
import type { SessionStore } from '../sessions/session-store.js';
import { createChannelRegistry } from './registry.js';
import { createSendMessageTool } from './send-message-tool.js';
import type { Channel, ChannelRegistry, InboundHandler } from './types.js';
import { createWebchatChannel } from './webchat.js';

// How long async /api/message turns may take to finish when the worker exits.
const CLOSE_WAIT_MS = 3000;

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
  messages: MessageService;
  routers: Routes[];
  /** Background work (Telegram long polling): only in the worker that owns it. */
  startBackground(): Promise<void>;
  stopBackground(): Promise<void>;
  /** Before the worker exits: lets inbound turns finish (bounded), stops everything. */
  close(): Promise<void>;
}

/**
 * Builds the enabled channels and everything that talks to them; registers the send_message
 * tool. A channel's module (grammy for Telegram) loads only when it is enabled.
 */
export async function createChannelFeature(options: ChannelFeatureOptions): Promise<ChannelFeature> {
  const { config, stateDir, store, queue, agent } = options;
  const logger = options.logger.child({ component: 'channels' });
  // Channels are built before the service that answers them; they call it only later.
  const onInbound: InboundHandler = (message) => messages.inbound(message);

  const list: Channel[] = [createWebchatChannel({ store, queue, agentId: () => defaultAgentId(config) })];
  const { telegram, webhook } = config.channels;
  if (telegram.enabled) {
    const { createTelegramChannel } = await import('./telegram/telegram-channel.js');
    list.push(createTelegramChannel({ config: telegram, stateDir, logger, onInbound }));
  }
  if (webhook.enabled) {
    const { createWebhookChannel } = await import('./webhook/webhook-channel.js');
    list.push(createWebhookChannel({ config: webhook, logger, onInbound, stateDir }));
  }
  const channels = createChannelRegistry(list, logger);
  logger.info({ channels: list.map((channel) => channel.name) }, 'channels enabled');

  const idempotency = createIdempotencyStore({ dir: join(stateDir, 'messages', 'idempotency'), ttlMs: IDEMPOTENCY_TTL_MS, logger });
  const pending = createPendingStore(join(stateDir, 'messages', 'pending'));
  const messages = createMessageService({ config, logger, agent, channels, idempotency, pending });
  options.tools.register(createSendMessageTool(channels));

  return {
    channels,
    messages,
    // The message routes' module loads on first use (see lazyRoutes).
    routers: [lazyRoutes(['/api/message'], async () => (await import('../routes/message.js')).createMessageRouter({ config, messages })), createWebhookRouter(channels)],
    async startBackground() {
      await channels.start();
      messages.startReplay();
    },
    async stopBackground() {
      messages.stopReplay();
      await channels.stop();
    },
    async close() {
      // Both before the agent cancels what still runs: inbound turns and async messages get to finish.
      await Promise.all([channels.close(), messages.close(CLOSE_WAIT_MS)]);
    },
  };
}
