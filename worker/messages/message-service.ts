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
import type { PendingMessage, PendingStore } from './pending-store.js';
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
  /** Where accepted async messages wait until delivered (see pending-store.ts). */
  pending: PendingStore;
}

export interface MessageService {
  /**
   * Async: checks the request, answers a message_id, then runs the turn and delivers the
   * reply in the background. BUSY when this worker already holds `gateway.maxPendingMessages` such messages.
   */
  accept(request: MessageRequest, idempotencyKey?: string): Promise<{ messageId: string }>;
  /** Sync: runs the turn and delivers the reply; CHANNEL_ERROR when delivery fails (the reply stays in the session). */
  send(request: MessageRequest, idempotencyKey?: string): Promise<{ messageId: string; reply: string }>;
  /** For channels: answers an inbound message in its chat's session with the default agent. */
  inbound(message: InboundMessage): Promise<string>;
  /** Before the worker exits: waits up to `timeoutMs` for async messages still being answered. */
  close(timeoutMs: number): Promise<void>;
  /** Background owner only: answers async messages that dead workers left, now and then every few seconds. */
  startReplay(): void;
  stopReplay(): void;
}

// How often the background owner looks for async messages left by workers that died.
const REPLAY_INTERVAL_MS = 5000;

// Retry-After of a BUSY answer: about one turn of a slow model, which frees a slot.
const BUSY_RETRY_AFTER_S = 5;

// A sync retry whose first try runs in another worker (mid-restart) waits this long for it.
const FOREIGN_WAIT_MS = 120_000;
const FOREIGN_POLL_MS = 250;

/**
 * Messages addressed to channel chats: the agent answers in the session
 * `{agent}:{channel}:{chat_id}` and the reply goes to that chat (webchat keeps it in
 * the session). An Idempotency-Key makes a retried POST return the first one's
 * message_id (and, for sync, its reply) without running the turn again.
 */
export function createMessageService(options: MessageServiceOptions): MessageService {
  const { config, agent, channels, idempotency, pending } = options;
  // `gateway.maxPendingMessages` (64): async messages one worker holds accepted but not
  // yet answered and delivered. Beyond it POST /api/message answers BUSY: a backlog the
  // agent cannot work off only grows (under load the gateway accepted about twice what
  // it answered), and every entry is a pending file, a queued turn and memory.
  const maxBacklog = config.gateway.maxPendingMessages;
  let closing = false;
  let replayTimer: NodeJS.Timeout | null = null;
  let replaying: Promise<void> | null = null;
  const logger = options.logger.child({ component: 'messages' });
  // Sync requests of this worker still running, by idempotency key: a retry joins them.
  const running = new Map<string, Promise<{ messageId: string; reply: string }>>();
  // Async messages answered in the background, so that close() can let them finish.
  const background = new Set<Promise<void>>();

  function target(request: MessageRequest): SessionKeyParts {
    const channel = channels.get(request.channel);
    if (!channel) throw apiError('CHANNEL_NOT_FOUND', `Channel "${clip(request.channel)}" is not configured or not enabled`);
    return { agentId: resolveAgentId(config, request.agentId), channel: channel.name, peerId: request.chatId };
  }

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
      // Checked after the last await and before add(): nothing can slip in between.
      if (background.size >= maxBacklog) {
        if (key) await idempotency.release(key).catch((err: unknown) => logger.warn({ err, messageId }, 'could not release an idempotency key'));
        throw busy(maxBacklog);
      }
      // Written down (fsync'd) before the 202: a worker that dies now leaves it to the next one.
      pending.add({ messageId, request, idempotencyKey: key });
      const job = (async () => {
        const result = await turn.run();
        pending.markAnswered(messageId, result.reply);
        if (key) await idempotency.update(key, { status: 'done' });
        await deliver(session, result.reply, messageId);
        pending.remove(messageId);
        logger.info({ messageId, session: result.sessionKey }, 'message answered and delivered');
      })().catch((err: unknown) => settleFailure(err, messageId, session, key));
      background.add(job);
      void job.finally(() => background.delete(job));
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

    async inbound(message) {
      const session = { agentId: resolveAgentId(config, undefined), channel: message.channel, peerId: message.chatId };
      const maxChars = config.agents.defaults.maxMessageChars;
      const content = message.content.length > maxChars ? message.content.slice(0, maxChars) : message.content;
      const result = await agent.chat({ session, message: content });
      logger.info({ channel: message.channel, chatId: message.chatId, externalId: message.externalId, session: result.sessionKey }, 'inbound message answered');
      return result.reply;
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

    async close(timeoutMs) {
      closing = true;
      service.stopReplay();
      if (background.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([
        Promise.all(background).then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!settled) logger.warn({ running: background.size }, 'async messages still being answered as the worker exits; their turns are cancelled');
    },
  };
  function settleFailure(err: unknown, messageId: string, session: SessionKeyParts, key?: string): void {
    if (closing) {
      // Cut off by this worker's exit, not a real failure: the next worker answers it.
      logger.warn({ messageId }, `message ${messageId} not finished as the worker exits; it stays queued for the next one`);
      return;
    }
    pending.remove(messageId);
    if (key) void idempotency.update(key, { status: 'failed' }).catch(() => undefined);
    logger.error({ err, messageId, channel: session.channel, chatId: session.peerId }, `message ${messageId} failed: ${err instanceof ApiError ? err.code : 'unexpected error'}; the client was already answered`);
  }

  /** Answers, one after another, the async messages whose worker died before delivering them. */
  async function replayOrphans(): Promise<void> {
    let orphans: PendingMessage[];
    try {
      orphans = pending.claimOrphans();
    } catch (err) {
      logger.error({ err }, 'could not read the queue of pending messages');
      return;
    }
    for (const message of orphans) {
      if (closing) return;
      const { messageId, request, idempotencyKey: key } = message;
      let session: SessionKeyParts;
      try {
        session = target(request);
      } catch (err) {
        pending.remove(messageId);
        logger.error({ err, messageId }, `message ${messageId} left by a stopped worker cannot be answered any more (its channel is gone)`);
        continue;
      }
      logger.info({ messageId, answered: Boolean(message.answered) }, 'answering a message left by a stopped worker');
      try {
        let reply = message.answered?.reply;
        if (reply === undefined) {
          // Killed after its turn was stored but before the record said so: the session
          // holds the turn (found by id in its tail) and only the delivery is left.
          const result = await agent.chat({ session, message: request.content, ref: messageId, acceptedAt: Date.parse(message.acceptedAt) });
          if (result.alreadyStored) logger.info({ messageId, session: result.sessionKey }, 'message already answered in its session; delivering the stored reply');
          reply = result.reply;
          pending.markAnswered(messageId, reply);
        }
        if (key) await idempotency.update(key, { status: 'done' }).catch(() => undefined);
        await deliver(session, reply, messageId);
        pending.remove(messageId);
      } catch (err) {
        settleFailure(err, messageId, session, key);
      }
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
