import type { Config } from '../../src/config.js';
import { resolveAgentId } from '../agent/agents.js';
import { apiError } from '../http/errors.js';
import type { KeyedQueue } from './session-queue.js';
import { describeBadKey, parseSessionKey, randomPeerId, type SessionKeyParts } from './session-key.js';
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
  /** SESSION_NOT_FOUND when missing, INVALID_REQUEST for a malformed key. */
  get(key: string, page: { limit: number; before?: number }): Promise<MessagePage>;
  remove(key: string): Promise<void>;
}

/** What /api/sessions does, without Koa. */
export function createSessionService(options: SessionServiceOptions): SessionService {
  const { config, store, queue } = options;

  function partsOf(key: string): SessionKeyParts {
    const parts = parseSessionKey(key);
    if (!parts) throw apiError('INVALID_REQUEST', describeBadKey(key));
    return parts;
  }

  return {
    async open(input) {
      const agentId = resolveAgentId(config, input.agentId);
      return store.ensure({ agentId, channel: input.channel, peerId: input.chatId ?? randomPeerId() });
    },

    list: (query) => store.list(query),

    async get(key, page) {
      const result = await store.readMessages(partsOf(key), page);
      if (!result) throw apiError('SESSION_NOT_FOUND', `No session "${key}"`);
      return result;
    },

    async remove(key) {
      const parts = partsOf(key);
      const removed = await queue.run(key, () => store.remove(parts));
      if (!removed) throw apiError('SESSION_NOT_FOUND', `No session "${key}"`);
    },
  };
}
