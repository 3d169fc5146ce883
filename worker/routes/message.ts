import type Koa from 'koa';
import * as v from 'valibot';
import type { Config } from '../../src/config.js';
import { apiError } from '../http/errors.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup, type HeaderDef } from '../http/route.js';
import type { MessageRequest, MessageService } from '../messages/message-service.js';
import { PEER_PATTERN, PEER_RULE } from '../sessions/session-key.js';

// Printable ASCII, as Stripe and the IETF draft allow; long enough for a UUID with a prefix.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const IDEMPOTENCY_MESSAGE = 'Idempotency-Key must be 1-255 printable ASCII characters';

const idempotencyHeader: HeaderDef = {
  name: 'Idempotency-Key',
  description: 'A retry with the same key returns the same message_id without processing twice (kept 24 h)',
  schema: v.pipe(v.string(), v.regex(IDEMPOTENCY_KEY, IDEMPOTENCY_MESSAGE)),
};

function messageBody(maxMessageChars: number) {
  return v.object({
    channel: v.pipe(v.string('channel must be a string'), v.minLength(1, 'channel must not be empty')),
    // Telegram chat ids arrive as numbers (negative for groups).
    chat_id: v.pipe(
      v.union([v.string(), v.pipe(v.number(), v.integer())], 'chat_id must be a string or an integer'),
      v.transform(String),
      v.regex(PEER_PATTERN, `chat_id must be ${PEER_RULE} (Telegram ids may be negative)`),
    ),
    content: v.pipe(
      v.string('content must be a string'),
      v.regex(/\S/, 'content must not be empty'),
      v.maxLength(maxMessageChars, `content is longer than ${maxMessageChars} characters (agents.defaults.maxMessageChars)`),
    ),
    agentId: v.optional(v.string('agentId must be a string')),
  }, 'body must be a JSON object with channel, chat_id and content');
}

/**
 * `POST /api/message` (202 with a message_id at once; the reply is delivered in the
 * background) and `POST /api/message/sync` (200 with the reply once it is delivered).
 * Both honour an `Idempotency-Key` header.
 */
export function createMessageRouter(options: { config: Config; messages: MessageService }): Routes {
  const { messages } = options;
  const body = messageBody(options.config.agents.defaults.maxMessageChars);
  const example = { body: { channel: 'webchat', chat_id: 'contract', content: 'Remind me to water the plants' } };

  const idempotencyKey = (ctx: Koa.Context): string | undefined => {
    const key = ctx.get('idempotency-key') || undefined;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) throw apiError('INVALID_REQUEST', IDEMPOTENCY_MESSAGE);
    return key;
  };
  const request = (input: v.InferOutput<typeof body>): MessageRequest => {
    const { channel, chat_id: chatId, content, agentId } = input;
    return { channel, chatId, content, ...(agentId === undefined ? {} : { agentId }) };
  };

  const accept = route({
    operationId: 'sendMessage',
    method: 'POST',
    path: '/api/message',
    tag: 'messages',
    summary: 'Send a message to the agent; the reply is delivered to the chat in the background',
    body,
    headers: [idempotencyHeader],
    responses: { 202: { description: 'Accepted', schema: v.object({ status: v.literal('ok'), message_id: v.string() }) } },
    errors: ['CHANNEL_NOT_FOUND', 'BUSY', 'AGENT_ERROR'],
    example,
  }, async (ctx, input) => {
    const { messageId } = await messages.accept(request(input.body), idempotencyKey(ctx));
    ctx.status = 202;
    ctx.body = { status: 'ok', message_id: messageId };
  });

  const sync = route({
    operationId: 'sendMessageSync',
    method: 'POST',
    path: '/api/message/sync',
    tag: 'messages',
    summary: 'Send a message to the agent and answer once the reply is delivered',
    body,
    headers: [idempotencyHeader],
    responses: { 200: { description: 'Delivered', schema: v.object({ status: v.literal('ok'), reply: v.string(), message_id: v.string() }) } },
    errors: ['CHANNEL_NOT_FOUND', 'AGENT_ERROR', 'CHANNEL_ERROR'],
    example,
  }, async (ctx, input) => {
    const { messageId, reply } = await messages.send(request(input.body), idempotencyKey(ctx));
    ctx.body = { status: 'ok', reply, message_id: messageId };
  });

  return routeGroup([accept, sync]);
}
