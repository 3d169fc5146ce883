import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EventEmitter, once } from 'node:events';
import type { Config } from '../../../src/config.js';
import type { Logger } from '../../../src/logger.js';
import { ApiError, apiError } from '../../http/errors.js';
import { parseInput } from '../../http/validate.js';
import { newMessageId } from '../../messages/message-id.js';
import { createKeyedQueue } from '../../sessions/session-queue.js';
import { withRetry, type RetryVerdict } from '../retry.js';
import type { Channel, InboundHandler, WebhookRequest, WebhookResponse } from '../types.js';
import { webhookInboundSchema } from './inbound-schema.js';
import { createReplayGuard } from './replay-guard.js';
import { createWebhookAuth } from './webhook-auth.js';

export const WEBHOOK_CHANNEL = 'webhook';
export const EVENT_HEADER = 'X-Xopc-Event';
export const DELIVERY_HEADER = 'X-Xopc-Delivery';

export type WebhookChannelConfig = Config['channels']['webhook'];

export interface WebhookChannelOptions {
  config: WebhookChannelConfig;
  logger: Logger;
  onInbound: InboundHandler;
  /** Where delivery ids are remembered (replay guard). */
  stateDir: string;
}

// How long `close` lets inbound turns and their reply deliveries finish.
const CLOSE_WAIT_MS = 3000;

/** The receiver failed in a way another try may fix (status or network), with its Retry-After. */
class DeliveryFailure extends Error {
  constructor(message: string, readonly verdict: RetryVerdict) {
    super(message);
  }
}

/**
 * The generic webhook channel. Inbound: `POST /api/webhook/webhook` with
 * `{event:"message", data:{chat_id, content, sender?}}`, signed (signature.ts); it is
 * answered 202 with a message_id at once and handled in the background. Outbound: the
 * reply is POSTed to `replyUrl` as `{event:"message", data:{chat_id, content,
 * message_id, in_reply_to?}}` (`in_reply_to`: the message_id of the inbound webhook or
 * the POST /api/message it answers; absent on a cron or send_message text), signed, with `X-Xopc-Delivery` constant across the
 * bounded retries so a receiver can drop repeats. When the agent fails, an
 * `{event:"error", data:{chat_id, in_reply_to, error:{code, message}}}` goes out instead.
 */
export function createWebhookChannel(options: WebhookChannelOptions): Channel {
  const { config, onInbound } = options;
  const logger = options.logger.child({ channel: WEBHOOK_CHANNEL });
  const secret = config.secret ?? '';
  const auth = secret ? createWebhookAuth({ secret, legacySignature: config.legacySignature }) : null;
  const replay = createReplayGuard({ dir: join(options.stateDir, 'channels', 'webhook-deliveries'), logger });
  const chats = createKeyedQueue();
  const settled = new EventEmitter();
  let outstanding = 0;

  if (!config.replyUrl) logger.warn('channels.webhook.replyUrl is not set: webhook replies stay in their sessions');

  async function post(event: 'message' | 'error', data: Record<string, unknown>): Promise<void> {
    if (!config.replyUrl) throw apiError('CHANNEL_ERROR', 'channels.webhook.replyUrl is not set: nowhere to deliver');
    const url = config.replyUrl;
    const delivery = randomUUID();
    const body = JSON.stringify({ event, data, timestamp: new Date().toISOString() });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'xopc-gateway',
      [EVENT_HEADER]: event,
      [DELIVERY_HEADER]: delivery,
    };
    try {
      await withRetry(async () => {
        let response: Response;
        try {
          // Signed at each attempt: a retry minutes later carries a fresh webhook-timestamp, the same webhook-id.
          response = await fetch(url, { method: 'POST', headers: { ...headers, ...auth?.sign(delivery, body) }, body, redirect: 'manual', signal: AbortSignal.timeout(config.replyTimeoutMs) });
        } catch (err) {
          throw new DeliveryFailure(`request failed: ${describeFetchError(err)}`, { retry: true });
        }
        await response.body?.cancel().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) return;
        const retryable = response.status === 429 || response.status === 408 || response.status >= 500;
        throw new DeliveryFailure(`receiver answered ${response.status}`, { retry: retryable, afterMs: retryAfterMs(response.headers.get('retry-after')) });
      }, {
        policy: config.replyRetry,
        classify: (err) => (err instanceof DeliveryFailure ? err.verdict : { retry: false }),
        onRetry: (err, attempt, delayMs) => logger.warn({ delivery, attempt, retryInMs: delayMs, error: (err as Error).message }, 'webhook reply delivery failed; retrying'),
      });
    } catch (err) {
      throw apiError('CHANNEL_ERROR', `Webhook delivery to channels.webhook.replyUrl failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async function answer(messageId: string, chatId: string, content: string, sender: string | undefined): Promise<void> {
    let reply: string;
    try {
      reply = await onInbound({ channel: WEBHOOK_CHANNEL, chatId, content, ...(sender ? { sender } : {}), externalId: messageId });
    } catch (err) {
      const error = err instanceof ApiError ? { code: err.code, message: err.message } : { code: 'INTERNAL_ERROR', message: 'Internal error' };
      logger.warn({ err, messageId, chatId }, 'the agent could not answer a webhook message; reporting the error to replyUrl');
      if (config.replyUrl) {
        await post('error', { chat_id: chatId, in_reply_to: messageId, error })
          .catch((postErr: unknown) => logger.error({ err: postErr, messageId }, 'could not report the failed webhook message to replyUrl; giving up'));
      }
      return;
    }
    if (!config.replyUrl) return;
    try {
      await post('message', { chat_id: chatId, content: reply, message_id: newMessageId(), in_reply_to: messageId });
    } catch (err) {
      logger.error({ err, messageId, chatId, attempts: config.replyRetry.attempts }, 'webhook reply could not be delivered after all retries; it stays in the session');
    }
  }

  return {
    name: WEBHOOK_CHANNEL,
    async start() {},
    async stop() {},

    async close() {
      const signal = AbortSignal.timeout(CLOSE_WAIT_MS);
      while (outstanding > 0) {
        try {
          await once(settled, 'settled', { signal });
        } catch {
          logger.warn({ outstanding }, 'webhook messages still being answered as the worker exits');
          return;
        }
      }
    },

    async send(chatId, text, options) {
      await post('message', { chat_id: chatId, content: text, message_id: newMessageId(), ...(options?.inReplyTo ? { in_reply_to: options.inReplyTo } : {}) });
    },

    async handleWebhook(request) {
      if (!auth) throw apiError('UNAUTHORIZED', 'channels.webhook.secret is not set: no call can be verified');
      const verified = auth.verify(request.headers, request.rawBody);
      // A delivery id seen before gets its first answer and does not run again.
      return verified.id === null ? accept(request) : replay.once(verified.id, () => accept(request));
    },
  };

  /** Validates an authenticated inbound call and queues its turn; answers 202 with the message id. */
  async function accept(request: WebhookRequest): Promise<WebhookResponse> {
    const { chat_id: chatId, content, sender } = parseInput(webhookInboundSchema, request.body).data;
    const messageId = newMessageId();
    outstanding += 1;
    void chats.run(chatId, () => answer(messageId, chatId, content, sender))
      .catch((err: unknown) => logger.error({ err, messageId }, 'webhook message handling failed unexpectedly'))
      .finally(() => {
        outstanding -= 1;
        settled.emit('settled');
      });
    return { status: 202, body: { status: 'ok', message_id: messageId } };
  }
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'timed out (channels.webhook.replyTimeoutMs)';
  const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
