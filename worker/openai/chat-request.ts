import { createHash, randomUUID } from 'node:crypto';
import * as v from 'valibot';
import { apiError, type ApiError } from '../http/errors.js';
import { isSegment, type SessionKeyParts } from '../sessions/session-key.js';
import type { StoredMessage } from '../sessions/session-types.js';

/** The channel segment of sessions that OpenAI-compatible clients talk in. */
export const OPENAI_CHANNEL = 'openai';
/** The header that names a session, for clients that cannot set the body's `user`. */
export const SESSION_HEADER = 'X-Xopc-Session';

const contentPart = v.looseObject({
  type: v.string('each content part needs a "type"'),
  text: v.optional(v.string('a text part\'s "text" must be a string')),
});

const message = v.looseObject({
  role: v.picklist(['system', 'developer', 'user', 'assistant', 'tool', 'function'], 'role must be one of system, developer, user, assistant, tool'),
  content: v.optional(v.nullable(v.union([v.string(), v.array(contentPart)], 'content must be a string or an array of content parts'))),
  name: v.optional(v.string()),
  tool_calls: v.optional(v.array(v.unknown())),
});

/**
 * `POST /v1/chat/completions` as OpenAI defines it. Unknown fields, and sampling settings
 * the agent's own model configuration decides (temperature, max_tokens, ...), are
 * accepted and ignored; features that would change the answer's meaning are refused by
 * `readChatRequest`.
 */
export const chatCompletionBody = v.looseObject({
  model: v.pipe(v.string('model must be a string: the id of an agent (GET /v1/models)'), v.minLength(1, 'model must not be empty')),
  messages: v.pipe(v.array(message, 'messages must be an array of {role, content}'), v.minLength(1, 'messages must not be empty')),
  stream: v.optional(v.nullable(v.boolean('stream must be true or false'))),
  stream_options: v.optional(v.nullable(v.looseObject({ include_usage: v.optional(v.boolean('stream_options.include_usage must be true or false')) }))),
  user: v.optional(v.pipe(v.string('user must be a string'), v.description('names the stored session {agent}:openai:{user}; only the newest user message is new input'))),
  n: v.optional(v.nullable(v.number('n must be a number'))),
  tools: v.optional(v.nullable(v.array(v.unknown()))),
  functions: v.optional(v.nullable(v.array(v.unknown()))),
  response_format: v.optional(v.nullable(v.looseObject({ type: v.string() }))),
  logprobs: v.optional(v.nullable(v.boolean())),
}, 'body must be a JSON object with "model" and "messages"');

/** A validated chat completion request. */
export type ChatCompletionBody = v.InferOutput<typeof chatCompletionBody>;

/** What one chat completion asks the agent. */
export interface ChatTurnRequest {
  session: SessionKeyParts;
  /** Whether the session is the client's own (`user`) or a fresh one for this request. */
  named: boolean;
  message: string;
  /** System and developer messages, joined: added to the agent's system prompt for the turn. */
  systemPrompt?: string;
  /** Without a named session: the conversation before `message`. */
  context?: StoredMessage[];
}

/**
 * Maps a chat completion request onto an agent turn. With a session name (`user`, or the
 * X-Xopc-Session header) the turn runs in `{agent}:openai:{name}` and only the newest user
 * message is new (clients resend the whole history; the session has it already). Without
 * one the request's messages are the whole context and the turn is stored in a fresh
 * session. What the gateway cannot honour is refused, naming the parameter.
 */
export function readChatRequest(body: ChatCompletionBody, agentId: string, sessionHeader: string | undefined): ChatTurnRequest {
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw unsupported('n', 'n > 1 is not supported: the agent gives one answer per turn');
  if (body.tools?.length || body.functions?.length) throw unsupported('tools', 'Client-side tools are not supported: the agent runs its own tools on the gateway');
  if (body.response_format && body.response_format.type !== 'text') throw unsupported('response_format', `response_format "${clip(body.response_format.type)}" is not supported; only text answers are`);
  if (body.logprobs) throw unsupported('logprobs', 'logprobs are not supported');

  const system: string[] = [];
  const conversation: Array<{ role: 'user' | 'assistant'; text: string }> = [];
  body.messages.forEach((entry, index) => {
    const param = `messages[${index}]`;
    if (entry.role === 'tool' || entry.role === 'function' || entry.tool_calls?.length) {
      throw unsupported(param, 'Tool messages and tool calls from the client are not supported: the agent runs its own tools on the gateway');
    }
    const text = textOf(entry.content, param);
    if (entry.role === 'system' || entry.role === 'developer') system.push(text);
    else conversation.push({ role: entry.role, text });
  });
  const last = conversation.at(-1);
  if (!last || last.role !== 'user') throw unsupported('messages', 'The last non-system message must be from the user: it is what the agent answers');
  if (!/\S/.test(last.text)) throw unsupported('messages', 'The last user message must not be empty');

  const name = sessionHeader || body.user;
  const systemPrompt = system.filter((text) => /\S/.test(text)).join('\n\n') || undefined;
  if (name) {
    return { session: { agentId, channel: OPENAI_CHANNEL, peerId: peerIdFor(name) }, named: true, message: last.text, ...(systemPrompt ? { systemPrompt } : {}) };
  }
  const now = Date.now();
  const context = conversation.slice(0, -1).map((entry): StoredMessage => (entry.role === 'user' ? { role: 'user', content: entry.text, ts: now } : { role: 'assistant', content: entry.text, ts: now }));
  // A fresh session per request: the turn shows in the sessions list like any other.
  return { session: { agentId, channel: OPENAI_CHANNEL, peerId: `chat-${randomUUID()}` }, named: false, message: last.text, context, ...(systemPrompt ? { systemPrompt } : {}) };
}

/**
 * A session name as a key segment: used as is when it is one ([a-z0-9_-]{1,64}), else
 * (an e-mail address, mixed case) a stable digest of it, so every name maps to one session.
 */
export function peerIdFor(name: string): string {
  return isSegment(name) ? name : `u-${createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32)}`;
}

function textOf(content: v.InferOutput<typeof message>['content'], param: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((part, index) => {
    if (part.type !== 'text' || typeof part.text !== 'string') {
      throw unsupported(`${param}.content[${index}]`, `Content parts of type "${clip(part.type)}" are not supported (images, audio and files are not); send text`);
    }
    return part.text;
  }).join('');
}

function unsupported(param: string, message: string): ApiError {
  const error = apiError('INVALID_REQUEST', message);
  error.param = param;
  return error;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
