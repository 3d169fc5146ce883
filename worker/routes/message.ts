import Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import type { Config } from '../../src/config.js';
import { apiError } from '../http/errors.js';
import type { MessageRequest, MessageService } from '../messages/message-service.js';
import { SEGMENT_PATTERN } from '../sessions/session-key.js';

// Printable ASCII, as Stripe and the IETF draft allow; long enough for a UUID with a prefix.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function messageBody(maxMessageChars: number) {
  return z.object({
    channel: z.string({ error: 'channel must be a string' }).min(1, 'channel must not be empty'),
    // Telegram chat ids arrive as numbers (negative for groups).
    chat_id: z.union([z.string(), z.number().int()], { error: 'chat_id must be a string or an integer' })
      .transform(String)
      .refine((id) => SEGMENT_PATTERN.test(id), 'chat_id must be 1-64 characters of [a-z0-9_-] (Telegram ids may be negative)'),
    content: z.string({ error: 'content must be a string' })
      .refine((text) => text.trim().length > 0, 'content must not be empty')
      .refine((text) => text.length <= maxMessageChars, `content is longer than ${maxMessageChars} characters (agents.defaults.maxMessageChars)`),
    agentId: z.string({ error: 'agentId must be a string' }).optional(),
  }, { error: 'body must be a JSON object with channel, chat_id and content' });
}

/**
 * `POST /api/message` (202 with a message_id at once; the reply is delivered in the
 * background) and `POST /api/message/sync` (200 with the reply once it is delivered).
 * Both honour an `Idempotency-Key` header. `GET /api/message/:id` tells what became of an
 * accepted message (the async ones and inbound webhook messages).
 */
export function createMessageRouter(options: { config: Config; messages: MessageService }): Router {
  const { messages } = options;
  const schema = messageBody(options.config.agents.defaults.maxMessageChars);
  const router = new Router();

  const read = (ctx: Koa.Context): { request: MessageRequest; key?: string } => {
    const parsed = schema.safeParse(ctx.request.body);
    if (!parsed.success) throw apiError('INVALID_REQUEST', parsed.error.issues[0]!.message);
    const { channel, chat_id: chatId, content, agentId } = parsed.data;
    const key = ctx.get('idempotency-key') || undefined;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) throw apiError('INVALID_REQUEST', 'Idempotency-Key must be 1-255 printable ASCII characters');
    return { request: { channel, chatId, content, ...(agentId === undefined ? {} : { agentId }) }, key };
  };

  router.post('/api/message', async (ctx) => {
    const { request, key } = read(ctx);
    const { messageId } = await messages.accept(request, key);
    ctx.status = 202;
    ctx.body = { status: 'ok', message_id: messageId };
  });

  // What became of an accepted message: pending, answered (delivery left), delivered or failed.
  router.get('/api/message/:id', (ctx) => {
    const status = messages.status(ctx.params.id!);
    ctx.body = {
      status: 'ok',
      message: {
        message_id: status.messageId,
        state: status.state,
        channel: status.channel,
        chat_id: status.chatId,
        acceptedAt: status.acceptedAt,
        attempts: status.attempts,
        ...(status.lastError ? { lastError: status.lastError } : {}),
        ...(status.settledAt ? { settledAt: status.settledAt } : {}),
      },
    };
  });

  router.post('/api/message/sync', async (ctx) => {
    const { request, key } = read(ctx);
    const { messageId, reply } = await messages.send(request, key);
    ctx.body = { status: 'ok', reply, message_id: messageId };
  });

  return router;
}
