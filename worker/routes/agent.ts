import type Koa from 'koa';
import * as v from 'valibot';
import type { Config } from '../../src/config.js';
import type { AgentEvent } from '../agent/agent-loop.js';
import type { AgentService, ChatResult, PreparedTurn } from '../agent/agent-service.js';
import { DEFAULT_SESSION_NAME, resolveChatTarget } from '../agent/agents.js';
import { ApiError, errorBody } from '../http/errors.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import { openEventStream } from '../http/event-stream.js';

// Proxies drop idle connections; a comment line every so often keeps a slow turn's stream open.
const SSE_KEEPALIVE_MS = 15_000;

function agentBody(maxMessageChars: number) {
  return v.object({
    message: v.pipe(
      v.string('message must be a string'),
      v.regex(/\S/, 'message must not be empty'),
      v.maxLength(maxMessageChars, `message is longer than ${maxMessageChars} characters (agents.defaults.maxMessageChars)`),
    ),
    session: v.optional(v.pipe(v.string('session must be a string'), v.description('a name (`{agent}:api:{name}`) or a full session key; default "default"'))),
    agentId: v.optional(v.string('agentId must be a string')),
  }, 'body must be a JSON object with a "message" string');
}

const agentReply = v.object({
  status: v.literal('ok'),
  reply: v.string(),
  session: v.pipe(v.string(), v.description('the session as given (a name or a key)')),
  session_key: v.pipe(v.string(), v.description('the full key {agentId}:{channel}:{peerId}, as /api/sessions/:key takes it')),
});

/** The data of each streamed event, by event name: delta, tool_call, tool_result, done, error. */
const agentEvent = v.union([
  v.object({ text: v.string() }),
  v.object({ id: v.string(), name: v.string(), arguments: v.record(v.string(), v.unknown()) }),
  v.object({ id: v.string(), name: v.string(), isError: v.boolean() }),
  agentReply,
  v.object({ error: v.object({ code: v.string(), message: v.string() }) }),
]);

/**
 * `POST /api/agent {message, session?, agentId?}`: one agent turn. JSON by default;
 * with `Accept: text/event-stream` the reply streams as server-sent events:
 * `delta` {text} ..., `tool_call` / `tool_result` around tool runs, then `done`
 * {status, reply, session, session_key} or `error` {error: {code, message}}.
 */
export function createAgentRouter(options: { config: Config; agent: AgentService }): Routes {
  const { config, agent } = options;

  const chat = route({
    operationId: 'agentChat',
    method: 'POST',
    path: '/api/agent',
    tag: 'agent',
    summary: 'One agent turn in a session',
    description: 'JSON by default; with `Accept: text/event-stream` the reply streams as server-sent events (`delta`, `tool_call`, `tool_result`, then `done` or `error`).',
    body: agentBody(config.agents.defaults.maxMessageChars),
    responses: {
      200: { description: 'The reply', schema: agentReply, eventStream: agentEvent },
    },
    errors: ['AGENT_ERROR', 'STORAGE_UNAVAILABLE'],
    example: { body: { message: 'What time is it in Tokyo?', session: 'default' } },
  }, async (ctx, { body }) => {
    const { message, session, agentId } = body;
    const target = resolveChatTarget(config, { session, agentId });
    const label = session ?? DEFAULT_SESSION_NAME;
    const turn = await agent.prepare({ session: target, message });

    if (ctx.accepts('application/json', 'text/event-stream') === 'text/event-stream') {
      streamTurn(ctx, turn, label);
      return;
    }
    const result = await turn.run();
    ctx.body = reply(result, label);
  });

  return routeGroup([chat]);
}

/** `session` echoes what the client sent (a name or a key); `session_key` is the full key, for /api/sessions. */
function reply(result: ChatResult, label: string) {
  return { status: 'ok', reply: result.reply, session: label, session_key: result.sessionKey };
}

/** Answers with an event stream now and writes the turn's events into it as they come. */
function streamTurn(ctx: Koa.Context, turn: PreparedTurn, label: string): void {
  const stream = openEventStream(ctx);

  let clientGone = false;
  ctx.res.once('close', () => (clientGone = true));
  const write = (text: string) => {
    if (!clientGone && !stream.writableEnded) stream.write(text);
  };
  const send = (event: string, data: unknown) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  // Gets the headers out before the model's first token.
  write(': stream open\n\n');
  const keepalive = setInterval(() => write(': keepalive\n\n'), SSE_KEEPALIVE_MS);

  // The turn runs to its end even if the client leaves: the reply still lands in the session.
  turn.run((event: AgentEvent) => send(event.type, eventData(event)))
    .then((result) => send('done', reply(result, label)))
    .catch((err: unknown) => {
      if (err instanceof ApiError) {
        send('error', errorBody(err.code, err.message));
      } else {
        ctx.app.emit('error', err, ctx);
        send('error', errorBody('INTERNAL_ERROR', 'Internal server error'));
      }
    })
    .finally(() => {
      clearInterval(keepalive);
      stream.end();
    });
}

function eventData(event: AgentEvent): Record<string, unknown> {
  const { type: _type, ...data } = event;
  return data;
}
