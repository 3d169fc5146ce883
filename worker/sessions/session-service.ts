import type { Config } from '../../src/config.js';
import { resolveAgentId, resolveSessionKey } from '../agent/agents.js';
import { apiError } from '../http/errors.js';
import type { KeyedQueue } from './session-queue.js';
import { formatSessionKey, randomPeerId } from './session-key.js';
import type { ListQuery, MessagePage, SessionStore } from './session-store.js';
import type { SessionInfo } from './session-types.js';

export interface SessionServiceOptions {
  config: Config;
  store: SessionStore;
  /** The agent's per-session queue: deletes wait for the turns queued before them. */
  queue: KeyedQueue;
}

export interface OpenSessionInput {
  channel: string;
  /** Without it a new random peer id; with it the existing session is reused. */
  chatId?: string;
  agentId?: string;
}

export interface SessionService {
  open(input: OpenSessionInput): Promise<{ info: SessionInfo; created: boolean }>;
  list(query: ListQuery): Promise<{ sessions: SessionInfo[]; total: number }>;
  /**
   * `key` is a full key or a short name (see resolveSessionKey; `agentId` picks the agent
   * of a short name). SESSION_NOT_FOUND when missing, INVALID_REQUEST for a malformed key.
   */
  get(key: string, page: { limit: number; before?: number }, agentId?: string): Promise<MessagePage>;
  remove(key: string, agentId?: string): Promise<void>;
}

/** What /api/sessions does, without Koa. */
export function createSessionService(options: SessionServiceOptions): SessionService {
  const { config, store, queue } = options;


  return {
    async open(input) {
      const agentId = resolveAgentId(config, input.agentId);
      return store.ensure({ agentId, channel: input.channel, peerId: input.chatId ?? randomPeerId() });
    },

    list: (query) => store.list(query),

    async get(key, page, agentId) {
      const parts = resolveSessionKey(config, key, agentId);
      const result = await store.readMessages(parts, page);
      if (!result) throw apiError('SESSION_NOT_FOUND', `No session "${formatSessionKey(parts)}"`);
      return result;
    },

    async remove(key, agentId) {
      const parts = resolveSessionKey(config, key, agentId);
      const fullKey = formatSessionKey(parts);
      // Queued under the full key, behind the turns of that session (a short name is only a spelling).
      const removed = await queue.run(fullKey, () => store.remove(parts));
      if (!removed) throw apiError('SESSION_NOT_FOUND', `No session "${fullKey}"`);
    },
  };
}
