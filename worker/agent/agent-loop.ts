import { createHash } from 'node:crypto';
import type { AssistantMessage, Context, Message, TSchema, Tool, ToolCall } from '@mariozechner/pi-ai';
import { ApiError, apiError } from '../http/errors.js';
import type { StoredMessage } from '../sessions/session-types.js';
import { fromAssistantMessage } from './messages.js';
import { providerError, timeoutError } from './provider-errors.js';
import { loadPiAi, type ResolvedModel } from './providers.js';
import type { AgentTool, ToolContext, ToolOutput } from './tool-registry.js';

/** What a streaming client sees while a turn runs. */
export type AgentEvent =
  | { type: 'delta'; text: string }
  | { type: 'tool_call'; id: string; name: string; arguments: Record<string, unknown> }
  | { type: 'tool_result'; id: string; name: string; isError: boolean };

export interface AgentLoopOptions {
  resolved: ResolvedModel;
  systemPrompt: string;
  /** Earlier turns, oldest first. */
  history: Message[];
  userMessage: string;
  tools: AgentTool[];
  toolContext: Omit<ToolContext, 'signal'>;
  maxSteps: number;
  /** Bound on each model call and each tool run. */
  timeoutMs: number;
  maxRetries: number;
  /** Cancels the turn (worker shutdown, or a client that went away). */
  signal?: AbortSignal;
  onEvent?: (event: AgentEvent) => void;
  /** After each model call, for metrics: how long it took, whether it failed, the tokens it used. */
  onModelCall?: (call: { seconds: number; ok: boolean; input: number; output: number }) => void;
}

export interface AgentLoopResult {
  /** Every non-empty assistant text of the turn, joined by a blank line; equals the concatenated deltas. */
  reply: string;
  /** The turn as it is stored: the user message first, then the assistant and tool messages. */
  messages: StoredMessage[];
  steps: number;
  usage: { input: number; output: number };
  /** `length` when the final answer was cut at the model's output limit. */
  finishReason: 'stop' | 'length';
}

const STEP_SEPARATOR = '\n\n';
const MAX_TOOL_OUTPUT_CHARS = 100_000;

/**
 * One agent turn: call the model with the history and the new message; while it asks
 * for tools, run them and call it again, at most `maxSteps` model calls. Provider
 * failures, timeouts and cancellation become AGENT_ERROR; a failed turn produces
 * nothing to store.
 */
export async function runAgentLoop(options: AgentLoopOptions): Promise<AgentLoopResult> {
  const { resolved, maxSteps, onEvent } = options;
  const userTs = Date.now();
  const stored: StoredMessage[] = [{ role: 'user', content: options.userMessage, ts: userTs }];
  const toolList: Tool[] = options.tools.map((tool) => ({ name: tool.name, description: tool.description, parameters: tool.parameters as unknown as TSchema }));
  const context: Context = {
    systemPrompt: options.systemPrompt,
    messages: [...options.history, { role: 'user', content: options.userMessage, timestamp: userTs }],
    ...(toolList.length > 0 ? { tools: toolList } : {}),
  };
  const texts: string[] = [];
  const usage = { input: 0, output: 0 };

  for (let step = 1; step <= maxSteps; step++) {
    let stepHasText = false;
    const answer = await timedModelCall(options, context, (delta) => {
      if (!delta) return;
      // Deltas of a later step are set apart the way `reply` joins the steps' texts.
      if (!stepHasText && texts.length > 0) onEvent?.({ type: 'delta', text: STEP_SEPARATOR });
      stepHasText = true;
      onEvent?.({ type: 'delta', text: delta });
    });
    usage.input += answer.usage.input;
    usage.output += answer.usage.output;
    context.messages.push(answer);
    const assistant = fromAssistantMessage(answer);
    stored.push(assistant);
    if (assistant.content) texts.push(assistant.content);

    const calls = answer.content.filter((block): block is ToolCall => block.type === 'toolCall');
    if (calls.length === 0) return { reply: replyOf(stored), messages: stored, steps: step, usage, finishReason: answer.stopReason === 'length' ? 'length' : 'stop' };

    for (const call of calls) {
      onEvent?.({ type: 'tool_call', id: call.id, name: call.name, arguments: call.arguments });
      const output = await runTool(options, toolList, call);
      onEvent?.({ type: 'tool_result', id: call.id, name: call.name, isError: output.isError });
      const ts = Date.now();
      context.messages.push({ role: 'toolResult', toolCallId: call.id, toolName: call.name, content: [{ type: 'text', text: output.text }], isError: output.isError, timestamp: ts });
      stored.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: output.text, isError: output.isError, ts });
    }
  }
  throw apiError('AGENT_ERROR', `The agent made ${maxSteps} model calls without reaching a final answer (model ${resolved.ref}); raise agents.defaults.maxSteps if this task needs more tool calls`);
}

/** A stored turn's reply, as the loop returned it: its non-empty assistant texts, joined. */
export function replyOf(messages: StoredMessage[]): string {
  return messages.flatMap((message) => (message.role === 'assistant' && message.content ? [message.content] : [])).join(STEP_SEPARATOR);
}

/** callModel, reported to `onModelCall` (a cancelled call counts as failed). */
async function timedModelCall(options: AgentLoopOptions, context: Context, onDelta: (text: string) => void): Promise<AssistantMessage> {
  if (!options.onModelCall) return callModel(options, context, onDelta);
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const answer = await callModel(options, context, onDelta);
    options.onModelCall({ seconds: seconds(), ok: true, input: answer.usage.input, output: answer.usage.output });
    return answer;
  } catch (err) {
    options.onModelCall({ seconds: seconds(), ok: false, input: 0, output: 0 });
    throw err;
  }
}

async function callModel(options: AgentLoopOptions, context: Context, onDelta: (text: string) => void): Promise<AssistantMessage> {
  const { resolved, timeoutMs } = options;
  const pi = await loadPiAi();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const cancel = () => controller.abort();
  options.signal?.addEventListener('abort', cancel, { once: true });
  try {
    if (options.signal?.aborted) throw cancelled();
    const events = pi.stream(resolved.model, context, {
      apiKey: resolved.apiKey,
      signal: controller.signal,
      maxRetries: options.maxRetries,
      // Lets providers route a session's calls to a warm prompt cache; hashed, since a key
      // can hold a chat id that is none of the provider's business.
      sessionId: createHash('sha256').update(options.toolContext.sessionKey).digest('hex').slice(0, 32),
    });
    for await (const event of events) {
      if (event.type === 'text_delta') onDelta(event.delta);
    }
    const message = await events.result();
    if (message.stopReason === 'error' || message.stopReason === 'aborted') {
      if (timedOut) throw timeoutError(resolved, timeoutMs);
      if (options.signal?.aborted) throw cancelled();
      throw providerError(resolved, message.errorMessage ?? 'no error message');
    }
    return message;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (timedOut) throw timeoutError(resolved, timeoutMs);
    throw providerError(resolved, err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', cancel);
  }
}

/** Runs one tool call; its failures are results for the model, not errors of the turn. */
async function runTool(options: AgentLoopOptions, toolList: Tool[], call: ToolCall): Promise<{ text: string; isError: boolean }> {
  const tool = options.tools.find((entry) => entry.name === call.name);
  if (!tool) return { text: `Unknown tool "${call.name}". Available: ${toolList.map((entry) => entry.name).join(', ') || 'none'}`, isError: true };
  const pi = await loadPiAi();
  let args: Record<string, unknown>;
  try {
    args = pi.validateToolCall(toolList, call) as Record<string, unknown>;
  } catch (err) {
    return { text: `Invalid arguments for ${call.name}: ${(err as Error).message}`, isError: true };
  }
  const controller = new AbortController();
  const cancel = () => controller.abort();
  options.signal?.addEventListener('abort', cancel, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`timed out after ${options.timeoutMs} ms`));
      }, options.timeoutMs);
    });
    const output = await Promise.race([Promise.resolve(tool.execute(args, { ...options.toolContext, signal: controller.signal })), timeout]);
    return normalize(output);
  } catch (err) {
    if (options.signal?.aborted) throw cancelled();
    return { text: `Tool ${call.name} failed: ${(err as Error)?.message ?? String(err)}`, isError: true };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', cancel);
  }
}

function normalize(output: ToolOutput): { text: string; isError: boolean } {
  const { text, isError } = typeof output === 'string' ? { text: output, isError: false } : { text: String(output.text), isError: output.isError === true };
  return { text: text.length > MAX_TOOL_OUTPUT_CHARS ? `${text.slice(0, MAX_TOOL_OUTPUT_CHARS)}... [truncated]` : text, isError };
}

function retryable(flag: boolean, error: ApiError): ApiError {
  error.retryable = flag;
  return error;
}

function cancelled() {
  return retryable(true, apiError('AGENT_ERROR', 'The request was cancelled before the agent answered (the gateway is shutting down, or the client went away); retry shortly'));
}
