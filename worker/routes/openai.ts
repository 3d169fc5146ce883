import type Koa from 'koa';
import * as v from 'valibot';
import type { Config } from '../../src/config.js';
import type { AgentService, ChatResult, PreparedTurn } from '../agent/agent-service.js';
import { ApiError, apiError } from '../http/errors.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import { chatCompletionBody, readChatRequest, SESSION_HEADER } from '../openai/chat-request.js';
import {
  chatChunk, chatCompletion, chatCompletionChunkSchema, chatCompletionSchema, modelListSchema, modelSchema,
  newCompletionIdentity, usageChunk, type CompletionIdentity,
} from '../openai/chat-response.js';
import { openAiErrorBody } from '../openai/openai-errors.js';
import { formatSessionKey } from '../sessions/session-key.js';
import { openEventStream } from '../http/event-stream.js';

// Proxies drop idle connections; a comment line every so often keeps a slow turn's stream open.
const SSE_KEEPALIVE_MS = 15_000;

export interface OpenAiRouterOptions {
  config: Config;
  agent: AgentService;
  /** ms since epoch: the `created` of every model. */
  startedAt?: number;
}

/**
 * The OpenAI-compatible API: `GET /v1/models` (the enabled agents) and
 * `POST /v1/chat/completions` (an agent turn, streamed or not), in OpenAI's wire format
 * so that OpenAI clients and SDKs talk to an agent with its tools, memory and sessions.
 */
export function createOpenAiRouter(options: OpenAiRouterOptions): Routes {
  const { config, agent } = options;
  const created = Math.floor((options.startedAt ?? Date.now()) / 1000);
  const models = () => config.agents.list.filter((entry) => entry.enabled).map((entry) => ({ id: entry.id, object: 'model' as const, created, owned_by: 'xopc' as const }));
  const findModel = (id: string) => {
    const model = models().find((entry) => entry.id === id);
    if (!model) {
      const error = apiError('MODEL_NOT_FOUND', `The model "${id.slice(0, 80)}" does not exist: models are the enabled agents (GET /v1/models)`);
      error.param = 'model';
      throw error;
    }
    return model;
  };

  const list = route({
    operationId: 'listModels',
    method: 'GET',
    path: '/v1/models',
    tag: 'openai',
    summary: 'The enabled agents, as models',
    responses: { 200: { description: 'Models', schema: modelListSchema } },
    errors: [],
    errorShape: 'openai',
    example: {},
  }, (ctx) => {
    ctx.body = { object: 'list', data: models() };
  });

  const retrieve = route({
    operationId: 'getModel',
    method: 'GET',
    path: '/v1/models/:model',
    tag: 'openai',
    summary: 'One enabled agent, as a model',
    params: v.object({ model: v.pipe(v.string(), v.description('an agent id')) }),
    responses: { 200: { description: 'The model', schema: modelSchema } },
    errors: ['MODEL_NOT_FOUND'],
    errorShape: 'openai',
    example: { params: { model: 'main' } },
  }, (ctx, { params }) => {
    ctx.body = findModel(params.model);
  });

  const complete = route({
    operationId: 'createChatCompletion',
    method: 'POST',
    path: '/v1/chat/completions',
    tag: 'openai',
    summary: 'A chat completion: one agent turn (`model` = agent id), streamed with `stream: true`',
    description: 'With `user` (or the X-Xopc-Session header) the turn runs in the stored session `{agent}:openai:{user}` and only the newest user message is new input; without, `messages` are the whole context and the turn is stored in a fresh session. System messages add to the agent\'s system prompt for the turn. n > 1, client-side tools, non-text content, response_format and logprobs are refused with 400. The answer\'s X-Xopc-Session header names the session.',
    body: chatCompletionBody,
    headers: [{ name: SESSION_HEADER, description: 'the session name; overrides `user`', schema: v.string() }],
    responses: { 200: { description: 'The completion', schema: chatCompletionSchema, eventStream: chatCompletionChunkSchema } },
    errors: ['MODEL_NOT_FOUND', 'AGENT_ERROR'],
    errorShape: 'openai',
    example: { body: { model: 'main', messages: [{ role: 'system', content: 'Answer in one sentence.' }, { role: 'user', content: 'What time is it in Tokyo?' }] } },
  }, async (ctx, { body }) => {
    const model = findModel(body.model).id;
    const request = readChatRequest(body, model, ctx.get(SESSION_HEADER) || undefined);
    const maxChars = config.agents.defaults.maxMessageChars;
    if (request.message.length > maxChars) throw apiError('INVALID_REQUEST', `The last user message is longer than ${maxChars} characters (agents.defaults.maxMessageChars)`);
    const turn = await agent.prepare({
      session: request.session,
      message: request.message,
      ...(request.systemPrompt ? { systemPrompt: request.systemPrompt } : {}),
      ...(request.context ? { context: request.context } : {}),
    });
    ctx.set(SESSION_HEADER, formatSessionKey(request.session));
    const identity = newCompletionIdentity(model);
    // A client that goes away cancels the model call; the half-done turn is not stored.
    const cancel = new AbortController();
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) cancel.abort();
    });
    if (body.stream) {
      streamCompletion(ctx, turn, identity, body.stream_options?.include_usage === true, cancel.signal);
      return;
    }
    ctx.body = chatCompletion(identity, await turn.run(undefined, cancel.signal));
  });

  return routeGroup([list, retrieve, complete]);
}

/** Answers with `chat.completion.chunk` events now and writes the turn's text into them as it comes, then `[DONE]`. */
function streamCompletion(ctx: Koa.Context, turn: PreparedTurn, identity: CompletionIdentity, includeUsage: boolean, signal: AbortSignal): void {
  const stream = openEventStream(ctx);

  const write = (text: string) => {
    if (!signal.aborted && !stream.writableEnded) stream.write(text);
  };
  const send = (data: unknown) => write(`data: ${JSON.stringify(data)}\n\n`);
  // The role first, as OpenAI does; it also gets the headers out before the model's first token.
  send(chatChunk(identity, { role: 'assistant', content: '' }, null, includeUsage));
  const keepalive = setInterval(() => write(': keepalive\n\n'), SSE_KEEPALIVE_MS);

  turn.run((event) => {
    if (event.type === 'delta') send(chatChunk(identity, { content: event.text }, null, includeUsage));
  }, signal)
    .then((result: ChatResult) => {
      send(chatChunk(identity, {}, result.finishReason, includeUsage));
      const usage = includeUsage ? usageChunk(identity, result) : undefined;
      if (usage) send(usage);
      write('data: [DONE]\n\n');
    })
    .catch((err: unknown) => {
      if (signal.aborted) return;
      // The SDKs turn an event with an `error` field into an exception.
      if (err instanceof ApiError) {
        send(openAiErrorBody(err.code, err.message, err.param));
      } else {
        ctx.app.emit('error', err, ctx);
        send(openAiErrorBody('INTERNAL_ERROR', 'Internal server error'));
      }
    })
    .finally(() => {
      clearInterval(keepalive);
      stream.end();
    });
}
