import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Config } from '../../../src/config.js';
import type { Logger } from '../../../src/logger.js';
import { apiError } from '../../http/errors.js';
import { parseInput } from '../../http/validate.js';
import { newMessageId } from '../../messages/message-id.js';
import { withRetry, type RetryVerdict } from '../retry.js';
import type { Channel, InboundAcceptor, WebhookRequest, WebhookResponse } from '../types.js';
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
  /** Writes an inbound message down and answers it in the background (the message service). */
  accept: InboundAcceptor;
  /** Where delivery ids are remembered (replay guard). */
  stateDir: string;
}

/** The receiver failed in a way another try may fix (status or network), with its Retry-After. */
class DeliveryFailure extends Error {
  constructor(message: string, readonly verdict: RetryVerdict) {
    super(message);
  }
}

/**
 * The generic webhook channel. Inbound: `POST /api/webhook/webhook` with
 * `{event:"message", data:{chat_id, content, sender?}}`, signed (webhook-auth.ts); it is
 * written down (fsync'd, with the async messages) and only then answered 202 with a
 * message_id, then answered in the background by this worker or, if it dies, the next
 * one. Outbound: the reply is POSTed to `replyUrl` as `{event:"message", data:{chat_id,
 * content, message_id, in_reply_to?}}` (`in_reply_to`: the message_id of the inbound
 * webhook or the POST /api/message it answers; absent on a cron or send_message text), signed, with `X-Xopc-Delivery` constant across the
 * bounded retries (and, for a reply, across workers) so a receiver can drop repeats. When
 * a message fails for good, an `{event:"error", data:{chat_id, in_reply_to, error:{code,
 * message}}}` goes out instead.
 */
export function createWebhookChannel(options: WebhookChannelOptions): Channel {
  const { config } = options;
  const logger = options.logger.child({ channel: WEBHOOK_CHANNEL });
  const secret = config.secret ?? '';
  const auth = secret ? createWebhookAuth({ secret, legacySignature: config.legacySignature }) : null;
  const replay = createReplayGuard({ dir: join(options.stateDir, 'channels', 'webhook-deliveries'), logger });

  if (!config.replyUrl) logger.warn('channels.webhook.replyUrl is not set: webhook replies stay in their sessions');

  async function post(event: 'message' | 'error', data: Record<string, unknown>, delivery: string = randomUUID()): Promise<void> {
    if (!config.replyUrl) throw apiError('CHANNEL_ERROR', 'channels.webhook.replyUrl is not set: nowhere to deliver');
    const url = config.replyUrl;
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
      const failure = apiError('CHANNEL_ERROR', `Webhook delivery to channels.webhook.replyUrl failed: ${(err as Error).message}`, { cause: err });
      // A receiver that is down or answers 5xx may be back later; one that answers 4xx refuses this message.
      failure.retryable = err instanceof DeliveryFailure && err.verdict.retry;
      throw failure;
    }
  }

  return {
    name: WEBHOOK_CHANNEL,
    async start() {},
    async stop() {},

    async send(chatId, text, sendOptions) {
      const inReplyTo = sendOptions?.inReplyTo;
      // A reply to an inbound message with no replyUrl stays in its session, as the start-up
      // warning said; anything else sent here without a replyUrl fails as undeliverable.
      if (sendOptions?.inbound && !config.replyUrl) return;
      // The delivery id of a reply follows from the message it answers: a worker that
      // delivers it again after a crash sends the same id.
      await post('message', { chat_id: chatId, content: text, message_id: newMessageId(), ...(inReplyTo ? { in_reply_to: inReplyTo } : {}) }, inReplyTo ? `reply-${inReplyTo}` : undefined);
    },

    async reportFailure(chatId, inReplyTo, error) {
      if (config.replyUrl) await post('error', { chat_id: chatId, in_reply_to: inReplyTo, error }, `error-${inReplyTo}`);
    },

    async handleWebhook(request) {
      if (!auth) throw apiError('UNAUTHORIZED', 'channels.webhook.secret is not set: no call can be verified');
      const verified = auth.verify(request.headers, request.rawBody);
      // A delivery id seen before gets its first answer and does not run again.
      return verified.id === null ? accept(request) : replay.once(verified.id, () => accept(request));
    },
  };

  /** Validates an authenticated inbound call and writes it down before the 202: answered by this worker or the next one. */
  async function accept(request: WebhookRequest): Promise<WebhookResponse> {
    const { chat_id: chatId, content, sender } = parseInput(webhookInboundSchema, request.body).data;
    const { messageId } = options.accept({ channel: WEBHOOK_CHANNEL, chatId, content, ...(sender ? { sender } : {}) });
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
