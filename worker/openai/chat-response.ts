import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import type { ChatResult } from '../agent/agent-service.js';

/**
 * OpenAI's answer objects, field for field as the official SDKs read them: a
 * `chat.completion`, the `chat.completion.chunk`s of a stream, the model list. The
 * schemas document them in /openapi.json; the builders make them.
 */

const usage = v.object({
  prompt_tokens: v.pipe(v.number(), v.integer()),
  completion_tokens: v.pipe(v.number(), v.integer()),
  total_tokens: v.pipe(v.number(), v.integer()),
});
const finishReason = v.picklist(['stop', 'length']);

/** A non-streamed answer. */
export const chatCompletionSchema = v.object({
  id: v.string(),
  object: v.literal('chat.completion'),
  created: v.pipe(v.number(), v.integer()),
  model: v.string(),
  choices: v.array(v.object({
    index: v.number(),
    message: v.object({ role: v.literal('assistant'), content: v.string(), refusal: v.null() }),
    logprobs: v.null(),
    finish_reason: finishReason,
  })),
  usage: v.optional(usage),
});

/** One event of a streamed answer. */
export const chatCompletionChunkSchema = v.object({
  id: v.string(),
  object: v.literal('chat.completion.chunk'),
  created: v.pipe(v.number(), v.integer()),
  model: v.string(),
  choices: v.array(v.object({
    index: v.number(),
    delta: v.object({ role: v.optional(v.literal('assistant')), content: v.optional(v.string()) }),
    logprobs: v.null(),
    finish_reason: v.nullable(finishReason),
  })),
  usage: v.optional(v.nullable(usage)),
});

/** An agent as an OpenAI model, and the list of them. */
export const modelSchema = v.object({ id: v.string(), object: v.literal('model'), created: v.pipe(v.number(), v.integer()), owned_by: v.literal('xopc') });
export const modelListSchema = v.object({ object: v.literal('list'), data: v.array(modelSchema) });

/** The ids and time stamp one completion's objects share. */
export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

/** A fresh `chatcmpl-` id, now as `created`. */
export function newCompletionIdentity(model: string): CompletionIdentity {
  return { id: `chatcmpl-${randomUUID().replace(/-/g, '')}`, created: Math.floor(Date.now() / 1000), model };
}

/** OpenAI's usage object; none when the provider reported no tokens (OpenAI-compatible servers may not). */
export function usageOf(result: ChatResult): v.InferOutput<typeof usage> | undefined {
  const { input, output } = result.usage;
  if (input === 0 && output === 0) return undefined;
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

/** The `chat.completion` object for a finished turn. */
export function chatCompletion(identity: CompletionIdentity, result: ChatResult): v.InferOutput<typeof chatCompletionSchema> {
  const reported = usageOf(result);
  return {
    ...identity,
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: result.reply, refusal: null }, logprobs: null, finish_reason: result.finishReason }],
    ...(reported ? { usage: reported } : {}),
  };
}

/**
 * One chunk of a stream. With `include_usage` OpenAI sends `usage: null` on every chunk
 * but the last, which has no choices and the usage.
 */
export function chatChunk(
  identity: CompletionIdentity,
  delta: { role?: 'assistant'; content?: string },
  finish: 'stop' | 'length' | null,
  includeUsage: boolean,
): v.InferOutput<typeof chatCompletionChunkSchema> {
  return { ...identity, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}) };
}

/** The usage chunk that ends a stream with `include_usage`; none when the provider reported no tokens. */
export function usageChunk(identity: CompletionIdentity, result: ChatResult): v.InferOutput<typeof chatCompletionChunkSchema> | undefined {
  const reported = usageOf(result);
  return reported ? { ...identity, object: 'chat.completion.chunk', choices: [], usage: reported } : undefined;
}
