import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { AgentService } from '../agent/agent-service.js';
import { resolveAgentId } from '../agent/agents.js';
import type { ChannelRegistry, InboundMessage } from '../channels/types.js';
import { ApiError, apiError } from '../http/errors.js';
import { formatSessionKey, type SessionKeyParts } from '../sessions/session-key.js';
import type { IdempotencyRecord, IdempotencyStore } from './idempotency-store.js';
import type { MessageStatus, PendingMessage, PendingStore } from './pending-store.js';
import { createPendingRunner } from './pending-runner.js';
import type { StorageHealth } from '../storage/storage-health.js';
import { newMessageId } from './message-id.js';

/** A validated `POST /api/message` body. */
export interface MessageRequest {
  channel: string;
  chatId: string;
  content: string;
  agentId?: string;
}

export interface MessageServiceOptions {
  config: Config;
  logger: Logger;
  agent: AgentService;
  channels: ChannelRegistry;
  idempotency: IdempotencyStore;
  /** Where accepted messages wait until delivered (see pending-store.ts). */
  pending: PendingStore;
  /** Told about storage faults of background work; /health reports them. */
  storage?: StorageHealth;
}

export interface MessageService {
  /**
   * Async: checks the request, writes it down, answers a message_id, then runs the turn and
   * delivers the reply in the background. BUSY when the gateway already holds
   * `gateway.maxPendingMessages` accepted messages not yet settled (on disk, any worker's).
   */
  accept(request: MessageRequest, idempotencyKey?: string): Promise<{ messageId: string }>;
  /** Sync: runs the turn and delivers the reply; CHANNEL_ERROR when delivery fails (the reply stays in the session). */
  send(request: MessageRequest, idempotencyKey?: string): Promise<{ messageId: string; reply: string }>;
  /**
   * For channels' webhooks: writes an inbound message down (fsync'd) before the channel
   * answers its sender, then answers it in its chat's session with the default agent and
   * delivers the reply in the background, like `accept`. BUSY or STORAGE_UNAVAILABLE when
   * it cannot be written down (the sender should retry).
   */
  acceptInbound(message: InboundMessage): { messageId: string };
  /** For polling channels, which keep their own journal: answers an inbound message in its chat's session with the default agent. */
  inbound(message: InboundMessage): Promise<string>;
  /** What became of an accepted message; MESSAGE_NOT_FOUND when unknown (or settled over a day ago). */
  status(messageId: string): MessageStatus;
  /** Before the worker exits: waits up to `timeoutMs` for messages still being answered; the rest stays pending. */
  close(timeoutMs: number): Promise<void>;
  /** Background owner only: answers messages that dead workers left, now and then every few seconds. */
  startReplay(): void;
  stopReplay(): void;
  /** Accepted messages of the whole gateway not yet settled (what is pending on disk). */
  pendingCount(): number;
}

// How often the background owner looks for messages left by workers that died.
const REPLAY_INTERVAL_MS = 5000;

// Retry-After of a BUSY answer: about one turn of a slow model, which frees a slot.
const BUSY_RETRY_AFTER_S = 5;

// A sync retry whose first try runs in another worker (mid-restart) waits this long for it.
const FOREIGN_WAIT_MS = 120_000;
const FOREIGN_POLL_MS = 250;

const MESSAGE_ID = /^msg_[0-9a-f]{24}$/;

/**
 * Messages addressed to channel chats: the agent answers in the session
 * `{agent}:{channel}:{chat_id}` and the reply goes to that chat (webchat keeps it in
 * the session). An Idempotency-Key makes a retried POST return the first one's
 * message_id (and, for sync, its reply) without running the turn again.
 */
export function createMessageService(options: MessageServiceOptions): MessageService {
  const { config, agent, channels, idempotency, pending } = options;
  // `gateway.maxPendingMessages` (64): messages the gateway holds accepted but not yet
  // answered and delivered, counted on disk, so that what dead workers left counts too.
  // Beyond it POST /api/message and inbound webhooks answer BUSY: a backlog the agent
  // cannot work off only grows, and every entry is a pending file, a queued turn and memory.
  const maxBacklog = config.gateway.maxPendingMessages;
  let replayTimer: NodeJS.Timeout | null = null;
  let replaying: Promise<void> | null = null;
  const logger = options.logger.child({ component: 'messages' });
  // Sync requests of this worker still running, by idempotency key: a retry joins them.
  const running = new Map<string, Promise<{ messageId: string; reply: string }>>();

  function target(request: MessageRequest): SessionKeyParts {
    const channel = channels.get(request.channel);
    if (!channel) throw apiError('CHANNEL_NOT_FOUND', `Channel "${clip(request.channel)}" is not configured or not enabled`);
    return { agentId: resolveAgentId(config, request.agentId), channel: channel.name, peerId: request.chatId };
  }

  const runner = createPendingRunner({ logger: options.logger, agent, channels, idempotency, pending, storage: options.storage, target });

  /** Sends the reply to the request `messageId` to its chat, which can then match the two (`in_reply_to`). */
  async function deliver(session: SessionKeyParts, reply: string, messageId: string): Promise<void> {
    if (channels.get(session.channel)?.repliesInSession) return;
    await channels.send(session.channel, session.peerId, reply, { inReplyTo: messageId });
  }

  async function runSync(request: MessageRequest, messageId: string, key?: string): Promise<{ messageId: string; reply: string }> {
    const session = target(request);
    let reply: string;
    try {
      // The turn carries the message id, as an async one does: the session shows what it answers.
      reply = (await agent.chat({ session, message: request.content, ref: messageId })).reply;
    } catch (err) {
      // Nothing was stored: a retry with the same key may try again.
      if (key) await idempotency.release(key).catch((releaseErr: unknown) => logger.warn({ err: releaseErr, messageId }, 'could not release an idempotency key'));
      throw err;
    }
    if (key) await idempotency.update(key, { status: 'done', reply, delivered: false });
    await deliverOrExplain(session, reply, messageId);
    if (key) await idempotency.update(key, { delivered: true });
    return { messageId, reply };
  }

  async function deliverOrExplain(session: SessionKeyParts, reply: string, messageId: string): Promise<void> {
    try {
      await deliver(session, reply, messageId);
    } catch (err) {
      const reason = err instanceof ApiError ? err.message : 'delivery failed';
      throw apiError('CHANNEL_ERROR', `${reason}. The reply is stored in session ${formatSessionKey(session)} (message ${messageId}).`, { cause: err });
    }
  }

  /** A sync retry: the first try's result, a delivery retried, or a wait for the try still running. */
  async function replay(request: MessageRequest, key: string, record: IdempotencyRecord): Promise<{ messageId: string; reply: string }> {
    const local = running.get(key);
    if (local) return local;
    const deadline = Date.now() + FOREIGN_WAIT_MS;
    let current: IdempotencyRecord | null = record;
    while (current && current.status === 'accepted' && Date.now() < deadline) {
      await sleep(FOREIGN_POLL_MS);
      current = await idempotency.read(key);
    }
    if (!current) return service.send(request, key);
    if (current.status !== 'done' || current.reply === undefined) {
      throw apiError('AGENT_ERROR', `The first request with this Idempotency-Key (message ${current.messageId}) has not finished; retry later`);
    }
    if (!current.delivered) {
      await deliverOrExplain(target(request), current.reply, current.messageId);
      await idempotency.update(key, { delivered: true });
    }
    return { messageId: current.messageId, reply: current.reply };
  }

  /** Refuses new work while the gateway's backlog (on disk) is full. */
  function checkBacklog(): void {
    if (pending.count() >= maxBacklog) throw busy(maxBacklog);
  }

  const service: MessageService = {
    async accept(request, key) {
      const session = target(request);
      const messageId = newMessageId();
      // The turn carries the message id: the answer and "answered" are one session write.
      const turn = await agent.prepare({ session, message: request.content, ref: messageId });
      if (key) {
        const claim = await idempotency.claim(key, { fingerprint: fingerprint('async', request), messageId });
        if (!claim.claimed) return { messageId: checkFingerprint(claim.record, 'async', request).messageId };
      }
      let record: PendingMessage;
      try {
        // After the last await: nothing of this worker slips in between the count and the add.
        checkBacklog();
        // Written down (fsync'd) before the 202: a worker that dies now leaves it to the next one.
        record = pending.add({ messageId, request, ...(key ? { idempotencyKey: key } : {}) });
      } catch (err) {
        if (key) await idempotency.release(key).catch((releaseErr: unknown) => logger.warn({ err: releaseErr, messageId }, 'could not release an idempotency key'));
        throw err;
      }
      runner.run(record, turn);
      return { messageId };
    },

    async send(request, key) {
      target(request);
      const messageId = newMessageId();
      if (key) {
        const claim = await idempotency.claim(key, { fingerprint: fingerprint('sync', request), messageId });
        if (!claim.claimed) return replay(request, key, checkFingerprint(claim.record, 'sync', request));
        const promise = runSync(request, messageId, key).finally(() => running.delete(key));
        running.set(key, promise);
        return promise;
      }
      return runSync(request, messageId);
    },

    acceptInbound(message) {
      const maxChars = config.agents.defaults.maxMessageChars;
      const content = message.content.length > maxChars ? message.content.slice(0, maxChars) : message.content;
      const messageId = newMessageId();
      checkBacklog();
      const record = pending.add({
        messageId,
        request: { channel: message.channel, chatId: message.chatId, content },
        inbound: { ...(message.sender ? { sender: message.sender } : {}), ...(message.externalId ? { externalId: message.externalId } : {}) },
      });
      logger.info({ messageId, channel: message.channel, chatId: message.chatId, externalId: message.externalId }, 'inbound message accepted');
      runner.run(record);
      return { messageId };
    },

    async inbound(message) {
      const session = { agentId: resolveAgentId(config, undefined), channel: message.channel, peerId: message.chatId };
      const maxChars = config.agents.defaults.maxMessageChars;
      const content = message.content.length > maxChars ? message.content.slice(0, maxChars) : message.content;
      const result = await agent.chat({ session, message: content });
      logger.info({ channel: message.channel, chatId: message.chatId, externalId: message.externalId, session: result.sessionKey }, 'inbound message answered');
      return result.reply;
    },

    status(messageId) {
      if (!MESSAGE_ID.test(messageId)) throw apiError('INVALID_REQUEST', 'A message id is msg_ followed by 24 hex digits');
      const status = pending.status(messageId);
      if (!status) throw apiError('MESSAGE_NOT_FOUND', `No message "${messageId}" (unknown, or settled more than a day ago)`);
      return status;
    },

    startReplay() {
      if (replayTimer) return;
      const tick = () => {
        replaying ??= replayOrphans().finally(() => (replaying = null));
      };
      tick();
      replayTimer = setInterval(tick, REPLAY_INTERVAL_MS);
      replayTimer.unref();
    },

    stopReplay() {
      if (replayTimer) clearInterval(replayTimer);
      replayTimer = null;
    },
    pendingCount: () => pending.count(),

    async close(timeoutMs) {
      service.stopReplay();
      await runner.close(timeoutMs);
    },
  };

  /** Hands the messages whose worker died before settling them to the runner (ordered per chat, bounded concurrency). */
  async function replayOrphans(): Promise<void> {
    try {
      const orphans = pending.claimOrphans();
      if (orphans.length > 0) logger.info({ count: orphans.length }, 'answering messages left by stopped workers');
      runner.replay(orphans);
    } catch (err) {
      options.storage?.report(err);
      logger.error({ err }, 'could not read the queue of pending messages; trying again shortly');
    }
  }

  return service;
}

function fingerprint(mode: 'async' | 'sync', request: MessageRequest): string {
  return createHash('sha256').update(JSON.stringify([mode, request.channel, request.chatId, request.content, request.agentId ?? null])).digest('hex');
}

function checkFingerprint(record: IdempotencyRecord, mode: 'async' | 'sync', request: MessageRequest): IdempotencyRecord {
  if (record.fingerprint !== fingerprint(mode, request)) {
    throw apiError('INVALID_REQUEST', 'This Idempotency-Key was already used for a different request (endpoint, channel, chat_id or content differ)');
  }
  return record;
}

function busy(limit: number): ApiError {
  const err = apiError('BUSY', `Too many messages waiting to be answered (${limit}); nothing was accepted, retry in ${BUSY_RETRY_AFTER_S} s`);
  err.headers['Retry-After'] = String(BUSY_RETRY_AFTER_S);
  return err;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
