import * as v from 'valibot';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import { queryInteger, queryText } from '../http/validate.js';
import { PEER_PATTERN, PEER_RULE, SEGMENT_PATTERN } from '../sessions/session-key.js';
import type { SessionService } from '../sessions/session-service.js';
import type { SequencedMessage, SessionInfo } from '../sessions/session-types.js';

const LIST_DEFAULT_LIMIT = 50;
const LIST_MAX_LIMIT = 500;
const MESSAGES_DEFAULT_LIMIT = 100;
const MESSAGES_MAX_LIMIT = 1000;

const segmentMessage = (field: string) => `${field} must be 1-64 characters of [a-z0-9_-]`;
const segment = (field: string) => v.pipe(v.string(`${field} must be a string`), v.regex(SEGMENT_PATTERN, segmentMessage(field)));
const segmentQuery = (field: string) => v.pipe(queryText(field, segmentMessage(field)), v.regex(SEGMENT_PATTERN, segmentMessage(field)));

const openSessionBody = v.object({
  channel: v.optional(segment('channel'), 'webchat'),
  // Telegram chat ids arrive as numbers (negative for groups).
  chat_id: v.optional(v.union(
    [v.pipe(v.string(), v.regex(PEER_PATTERN, `chat_id must be ${PEER_RULE}`)), v.pipe(v.number(), v.integer(), v.transform(String))],
    `chat_id must be a string (${PEER_RULE}) or an integer`,
  )),
  agentId: v.optional(v.string('agentId must be a string')),
}, 'body must be a JSON object');

const listQuery = v.object({
  limit: v.optional(queryInteger('limit', 1, LIST_MAX_LIMIT), String(LIST_DEFAULT_LIMIT)),
  offset: v.optional(queryInteger('offset', 0, Number.MAX_SAFE_INTEGER), '0'),
  channel: v.optional(segmentQuery('channel')),
  agentId: v.optional(segmentQuery('agentId')),
});

// `agentId`: the agent of a short name, as for POST /api/agent (see resolveSessionKey).
const readQuery = v.object({
  limit: v.optional(queryInteger('limit', 1, MESSAGES_MAX_LIMIT), String(MESSAGES_DEFAULT_LIMIT)),
  before: v.optional(queryInteger('before', 0, Number.MAX_SAFE_INTEGER)),
  agentId: v.optional(segmentQuery('agentId')),
});
const removeQuery = v.object({ agentId: v.optional(segmentQuery('agentId')) });

const keyParams = v.object({ key: v.pipe(v.string(), v.description('{agentId}:{channel}:{peerId}, or a short name (no colon) for {agentId}:api:{name}')) });

const isoTime = v.pipe(v.string(), v.isoTimestamp());
const sessionSchema = v.object({
  key: v.string(),
  agentId: v.string(),
  channel: v.string(),
  peerId: v.string(),
  createdAt: isoTime,
  updatedAt: isoTime,
  messageCount: v.pipe(v.number(), v.integer()),
});
const messageSchema = v.object({
  seq: v.pipe(v.number(), v.integer()),
  role: v.picklist(['user', 'assistant', 'tool']),
  content: v.string(),
  timestamp: isoTime,
  toolCalls: v.optional(v.array(v.object({ id: v.string(), name: v.string(), arguments: v.record(v.string(), v.unknown()) }))),
  model: v.optional(v.string()),
  in_reply_to: v.optional(v.pipe(v.string(), v.description('assistant messages: the message_id of the POST /api/message they answer'))),
  toolCallId: v.optional(v.string()),
  toolName: v.optional(v.string()),
  isError: v.optional(v.boolean()),
});
const ok = v.object({ status: v.literal('ok') });

/** `/api/sessions`: create or reuse, list, read, delete. Auth is the app's job. */
export function createSessionsRouter(sessions: SessionService): Routes {
  const open = route({
    operationId: 'openSession',
    method: 'POST',
    path: '/api/sessions',
    tag: 'sessions',
    summary: 'Create a session, or reuse the one of chat_id',
    body: openSessionBody,
    bodyOptional: true,
    responses: { 200: { description: 'The session', schema: v.object({ status: v.literal('ok'), session: v.object({ ...sessionSchema.entries, created: v.boolean() }) }) } },
    errors: [],
    example: { body: { channel: 'webchat', chat_id: 'contract' } },
  }, async (ctx, { body }) => {
    const { info, created } = await sessions.open({ channel: body.channel, chatId: body.chat_id, agentId: body.agentId });
    ctx.body = { status: 'ok', session: { ...publicSession(info), created } };
  });

  const list = route({
    operationId: 'listSessions',
    method: 'GET',
    path: '/api/sessions',
    tag: 'sessions',
    summary: 'Sessions, newest first',
    query: listQuery,
    responses: {
      200: {
        description: 'One page of sessions',
        schema: v.object({ status: v.literal('ok'), sessions: v.array(sessionSchema), total: v.pipe(v.number(), v.integer()), limit: v.number(), offset: v.number() }),
      },
    },
    errors: [],
    example: { query: { limit: '10' } },
  }, async (ctx, { query }) => {
    const { sessions: page, total } = await sessions.list(query);
    ctx.body = { status: 'ok', sessions: page.map(publicSession), total, limit: query.limit, offset: query.offset };
  });

  const read = route({
    operationId: 'getSession',
    method: 'GET',
    path: '/api/sessions/:key',
    tag: 'sessions',
    summary: "A session and its messages (the newest `limit`, or those before `before`)",
    params: keyParams,
    query: readQuery,
    responses: {
      200: {
        description: 'The session',
        schema: v.object({ status: v.literal('ok'), session: v.object({ ...sessionSchema.entries, messages: v.array(messageSchema), hasMore: v.boolean() }) }),
      },
    },
    errors: ['SESSION_NOT_FOUND'],
    example: { params: { key: 'main:webchat:contract' } },
  }, async (ctx, { params, query }) => {
    const { info, messages, hasMore } = await sessions.get(params.key, query, query.agentId);
    ctx.body = { status: 'ok', session: { ...publicSession(info), messages: messages.map(publicMessage), hasMore } };
  });

  const remove = route({
    operationId: 'deleteSession',
    method: 'DELETE',
    path: '/api/sessions/:key',
    tag: 'sessions',
    summary: 'Delete a session',
    params: keyParams,
    query: removeQuery,
    responses: { 200: { description: 'Deleted', schema: ok } },
    errors: ['SESSION_NOT_FOUND'],
    example: { params: { key: 'main:webchat:contract' } },
  }, async (ctx, { params, query }) => {
    await sessions.remove(params.key, query.agentId);
    ctx.body = { status: 'ok' };
  });

  return routeGroup([open, list, read, remove]);
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
      // `in_reply_to`: the message_id of the POST /api/message this answers (how a webchat client matches them).
      return {
        ...base,
        ...(message.toolCalls ? { toolCalls: message.toolCalls } : {}),
        ...(message.model ? { model: `${message.provider}/${message.model}` } : {}),
        ...(message.ref ? { in_reply_to: message.ref } : {}),
      };
    case 'tool':
      return { ...base, toolCallId: message.toolCallId, toolName: message.toolName, isError: message.isError };
  }
}
