import Router from '@koa/router';
import { z } from 'zod';
import { apiError } from '../http/errors.js';
import { SEGMENT_PATTERN } from '../sessions/session-key.js';
import type { SessionService } from '../sessions/session-service.js';
import type { SequencedMessage, SessionInfo } from '../sessions/session-types.js';

const LIST_DEFAULT_LIMIT = 50;
const LIST_MAX_LIMIT = 500;
const MESSAGES_DEFAULT_LIMIT = 100;
const MESSAGES_MAX_LIMIT = 1000;

const segment = (field: string) => z.string({ error: `${field} must be a string` }).regex(SEGMENT_PATTERN, `${field} must be 1-64 characters of [a-z0-9_-]`);

const openSessionBody = z.object({
  channel: segment('channel').default('webchat'),
  // Telegram chat ids arrive as numbers (negative for groups).
  chat_id: z.union([segment('chat_id'), z.number().int().transform(String)], { error: 'chat_id must be a string of [a-z0-9_-] or an integer' }).optional(),
  agentId: z.string({ error: 'agentId must be a string' }).optional(),
}, { error: 'body must be a JSON object' });

/** `/api/sessions`: create or reuse, list, read, delete. Auth is the app's job. */
export function createSessionsRouter(sessions: SessionService): Router {
  const router = new Router();

  router.post('/api/sessions', async (ctx) => {
    const body = parse(openSessionBody, ctx.request.body ?? {});
    const { info, created } = await sessions.open({ channel: body.channel, chatId: body.chat_id, agentId: body.agentId });
    ctx.body = { status: 'ok', session: { ...publicSession(info), created } };
  });

  router.get('/api/sessions', async (ctx) => {
    const query = {
      limit: integerParam(ctx.query.limit, 'limit', LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT),
      offset: integerParam(ctx.query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
      channel: segmentParam(ctx.query.channel, 'channel'),
      agentId: segmentParam(ctx.query.agentId, 'agentId'),
    };
    const { sessions: page, total } = await sessions.list(query);
    ctx.body = { status: 'ok', sessions: page.map(publicSession), total, limit: query.limit, offset: query.offset };
  });

  router.get('/api/sessions/:key', async (ctx) => {
    const limit = integerParam(ctx.query.limit, 'limit', MESSAGES_DEFAULT_LIMIT, 1, MESSAGES_MAX_LIMIT);
    const before = ctx.query.before === undefined ? undefined : integerParam(ctx.query.before, 'before', 0, 0, Number.MAX_SAFE_INTEGER);
    const { info, messages, hasMore, skipped } = await sessions.get(ctx.params.key!, { limit, before });
    ctx.body = { status: 'ok', session: { ...publicSession(info), messages: messages.map(publicMessage), hasMore, skippedRecords: skipped } };
  });

  router.delete('/api/sessions/:key', async (ctx) => {
    await sessions.remove(ctx.params.key!);
    ctx.body = { status: 'ok' };
  });

  return router;
}

/** A session as the API shows it: ISO times. */
export function publicSession(info: SessionInfo) {
  return {
    key: info.key,
    agentId: info.agentId,
    channel: info.channel,
    peerId: info.peerId,
    createdAt: new Date(info.createdAt).toISOString(),
    updatedAt: new Date(info.updatedAt).toISOString(),
    messageCount: info.messageCount,
  };
}

/** A message as the API shows it: `content` is always text; tool traffic is labelled. */
export function publicMessage(message: SequencedMessage) {
  const base = { seq: message.seq, role: message.role, content: message.content, timestamp: new Date(message.ts).toISOString() };
  switch (message.role) {
    case 'user':
      return base;
    case 'assistant':
      return { ...base, ...(message.toolCalls ? { toolCalls: message.toolCalls } : {}), ...(message.model ? { model: `${message.provider}/${message.model}` } : {}) };
    case 'tool':
      return { ...base, toolCallId: message.toolCallId, toolName: message.toolName, isError: message.isError };
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw apiError('INVALID_REQUEST', issue.message);
}

function integerParam(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) throw apiError('INVALID_REQUEST', `${name} must be an integer between ${min} and ${max}`);
  const number = Number(value);
  if (number < min || number > max) throw apiError('INVALID_REQUEST', `${name} must be an integer between ${min} and ${max}`);
  return number;
}

function segmentParam(value: unknown, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !SEGMENT_PATTERN.test(value)) throw apiError('INVALID_REQUEST', `${name} must be 1-64 characters of [a-z0-9_-]`);
  return value;
}
