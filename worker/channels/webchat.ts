import type { KeyedQueue } from '../sessions/session-queue.js';
import { formatSessionKey, isPeerId, PEER_RULE } from '../sessions/session-key.js';
import type { SessionStore } from '../sessions/session-store.js';
import { apiError } from '../http/errors.js';
import type { Channel } from './types.js';

export const WEBCHAT_CHANNEL = 'webchat';

export interface WebchatOptions {
  store: SessionStore;
  queue: KeyedQueue;
  /** The agent whose webchat session a pushed message lands in; null when no agent is enabled. */
  agentId: () => string | null;
}

/**
 * The built-in web chat. Its users read their session, so an agent's reply to them
 * needs no delivery (`repliesInSession`); a message pushed from elsewhere (a cron job,
 * the agent's send tool) is appended to `{agent}:webchat:{chatId}` as an assistant turn.
 */
export function createWebchatChannel(options: WebchatOptions): Channel {
  const { store, queue } = options;
  return {
    name: WEBCHAT_CHANNEL,
    repliesInSession: true,
    async start() {},
    async stop() {},
    async send(chatId, text) {
      const agentId = options.agentId();
      if (!agentId) throw apiError('CHANNEL_ERROR', 'No agent is enabled, so there is no webchat session to deliver to');
      if (!isPeerId(chatId)) throw apiError('INVALID_REQUEST', `webchat chat_id must be ${PEER_RULE}`);
      const parts = { agentId, channel: WEBCHAT_CHANNEL, peerId: chatId };
      // In the session's queue, so the append never interleaves with a running turn.
      await queue.run(formatSessionKey(parts), async () => {
        const { info } = await store.ensure(parts);
        await store.appendTurn(parts, info.messageCount, [{ role: 'assistant', content: text, ts: Date.now() }]);
      });
    },
  };
}
