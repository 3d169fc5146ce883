import { EventEmitter, once } from 'node:events';
import type { Logger } from '../../src/logger.js';
import type { AgentService, PreparedTurn } from '../agent/agent-service.js';
import { backoffDelay, type RetryPolicy } from '../channels/retry.js';
import type { ChannelRegistry } from '../channels/types.js';
import { ApiError } from '../http/errors.js';
import { createKeyedQueue } from '../sessions/session-queue.js';
import type { SessionKeyParts } from '../sessions/session-key.js';
import { describeStorageFault, storageFaultCode } from '../storage/storage-fault.js';
import type { StorageHealth } from '../storage/storage-health.js';
import type { IdempotencyStore } from './idempotency-store.js';
import type { MessageRequest } from './message-service.js';
import type { PendingMessage, PendingStore } from './pending-store.js';
import { retryPause } from './retry-pause.js';

export interface PendingRunnerOptions {
  logger: Logger;
  agent: AgentService;
  channels: ChannelRegistry;
  idempotency: IdempotencyStore;
  pending: PendingStore;
  storage?: StorageHealth;
  /** The session a request is answered in; throws when its channel or agent is gone (a permanent fault). */
  target(request: MessageRequest): SessionKeyParts;
  /** Delay between tries of a message whose failure is not its own. */
  retry?: Pick<RetryPolicy, 'minDelayMs' | 'maxDelayMs'>;
  /** Messages left by dead workers answered at once (each chat still one at a time, in order). */
  replayConcurrency?: number;
}

/**
 * Answers accepted messages: runs the turn, records it answered, delivers the reply and
 * records the end. One chat's messages go one at a time, in the order accepted, whether
 * this worker accepted them or a dead one did.
 */
export interface PendingRunner {
  /** A message this worker just accepted (`turn`: its turn, already checked by accept). */
  run(message: PendingMessage, turn?: PreparedTurn): void;
  /** Messages left by dead workers, oldest first. */
  replay(messages: PendingMessage[]): void;
  /** Stops retrying, waits up to `timeoutMs` for messages being answered; the rest stays pending for the next worker. */
  close(timeoutMs: number): Promise<void>;
}

const DEFAULT_RETRY = { minDelayMs: 1000, maxDelayMs: 30_000 };
const DEFAULT_REPLAY_CONCURRENCY = 8;

/**
 * Whether a failure is worth another try later: a storage fault (disk full, read-only),
 * a provider outage or a receiver's 5xx, which say nothing about the message. Anything
 * else (the provider refused this message, its channel or agent is gone, a bug) is the
 * message's own fault and ends it.
 */
export function isTransient(err: unknown): boolean {
  if (storageFaultCode(err)) return true;
  return err instanceof ApiError && err.retryable === true;
}

export function createPendingRunner(options: PendingRunnerOptions): PendingRunner {
  const { agent, channels, idempotency, pending, storage, target } = options;
  const logger = options.logger.child({ component: 'messages' });
  const policy = { ...DEFAULT_RETRY, ...options.retry };
  const limit = options.replayConcurrency ?? DEFAULT_REPLAY_CONCURRENCY;
  const lanes = createKeyedQueue();
  const closing = new AbortController();
  const wake = new EventEmitter();
  wake.setMaxListeners(0);
  const inFlight = new Set<Promise<void>>();
  let replaying = 0;
  const replaySlot = new EventEmitter();
  replaySlot.setMaxListeners(0);

  // A retry waiting for the disk goes as soon as it is writable again.
  storage?.onRecovered(() => wake.emit('wake'));

  const laneOf = (message: PendingMessage) => `${message.request.channel}\u0000${message.request.chatId}`;

  async function deliver(session: SessionKeyParts, reply: string, message: PendingMessage): Promise<void> {
    if (channels.get(session.channel)?.repliesInSession) return;
    await channels.send(session.channel, session.peerId, reply, { inReplyTo: message.messageId, ...(message.inbound ? { inbound: true } : {}) });
  }

  /** Tells an inbound message's chat that it will not be answered (the channel decides how); best effort. */
  async function reportFailure(message: PendingMessage, error: { code: string; message: string }): Promise<void> {
    if (!message.inbound) return;
    const channel = channels.get(message.request.channel);
    await channel?.reportFailure?.(message.request.chatId, message.messageId, error)
      .catch((err: unknown) => logger.error({ err, messageId: message.messageId }, 'could not tell the chat that its message failed'));
  }

  /** Runs one message to its end: delivered, failed for good, or (worker exiting) left for the next worker. */
  async function answer(message: PendingMessage, turn?: PreparedTurn): Promise<void> {
    // Queued behind others of its chat when the worker began to exit: the next worker has it.
    if (closing.signal.aborted) return;
    const { messageId, request, idempotencyKey: key } = message;
    let reply = message.answered?.reply;
    let delivered = false;
    let failure: { code: string; message: string } | null = null;
    let attempts = message.attempts ?? 0;
    let prepared = turn;
    while (!closing.signal.aborted) {
      try {
        if (failure) {
          // Only recording the end is left (it failed on the disk the first time).
          pending.settle(messageId, { state: 'failed', error: failure });
          return;
        }
        const session = target(request);
        if (reply === undefined) {
          // A retry, or a message a dead worker left: its turn may be stored already (by its id).
          const result = prepared ? await prepared.run() : await agent.chat({ session, message: request.content, ref: messageId, acceptedAt: Date.parse(message.acceptedAt) });
          prepared = undefined;
          if (result.alreadyStored) logger.info({ messageId, session: result.sessionKey }, 'message already answered in its session; delivering the stored reply');
          reply = result.reply;
          pending.markAnswered(messageId, reply);
        }
        if (key) await idempotency.update(key, { status: 'done' }).catch(() => undefined);
        if (!delivered) {
          await deliver(session, reply, message);
          delivered = true;
        }
        pending.settle(messageId, { state: 'delivered' });
        logger.info({ messageId, channel: request.channel, chatId: request.chatId, attempts: attempts + 1 }, 'message answered and delivered');
        return;
      } catch (err) {
        prepared = undefined;
        if (closing.signal.aborted) break;
        const error = describe(err);
        if (!failure && !isTransient(err)) {
          failure = error;
          if (key) await idempotency.update(key, { status: 'failed' }).catch(() => undefined);
          logger.warn({ err, messageId, channel: request.channel, chatId: request.chatId }, `message ${messageId} failed for good (${error.code}): it is not retried; GET /api/message/${messageId} shows why`);
          await reportFailure(message, error);
          continue;
        }
        attempts++;
        storage?.report(err);
        const delayMs = backoffDelay(attempts, policy);
        if (!failure) pending.noteFailure(messageId, attempts, error);
        logger.warn({ err, messageId, attempt: attempts, retryInMs: delayMs }, `message ${messageId} not answered yet (${error.code}, not its own fault); it stays pending and is retried`);
        await retryPause(delayMs, wake, closing.signal);
      }
    }
    logger.warn({ messageId }, `message ${messageId} not finished as the worker exits; it stays pending for the next one`);
  }

  function track(job: Promise<void>): void {
    const settled = job.catch((err: unknown) => logger.error({ err }, 'answering an accepted message failed unexpectedly'));
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  }

  async function replaySlotTaken(): Promise<boolean> {
    while (replaying >= limit) {
      if (closing.signal.aborted) return false;
      await once(replaySlot, 'free', { signal: closing.signal }).catch(() => undefined);
    }
    if (closing.signal.aborted) return false;
    replaying++;
    return true;
  }

  return {
    run(message, turn) {
      track(lanes.run(laneOf(message), () => answer(message, turn)));
    },

    replay(messages) {
      for (const message of messages) {
        track(lanes.run(laneOf(message), async () => {
          if (!(await replaySlotTaken())) return;
          try {
            logger.info({ messageId: message.messageId, answered: Boolean(message.answered) }, 'answering a message left by a stopped worker');
            await answer(message);
          } finally {
            replaying--;
            replaySlot.emit('free');
          }
        }));
      }
    },

    async close(timeoutMs) {
      closing.abort();
      if (inFlight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([
        Promise.all(inFlight).then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!settled) logger.warn({ running: inFlight.size }, 'accepted messages still being answered as the worker exits; they stay pending for the next worker');
    },
  };
}

function describe(err: unknown): { code: string; message: string } {
  const fault = storageFaultCode(err);
  if (fault && !(err instanceof ApiError)) return { code: 'STORAGE_UNAVAILABLE', message: `The gateway cannot write its state: ${describeStorageFault(fault)}` };
  if (err instanceof ApiError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL_ERROR', message: 'Internal error' };
}
