import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import { ApiError, apiError } from '../http/errors.js';
import { storageFaultCode, storageUnavailable } from '../storage/storage-fault.js';
import type { KeyedQueue } from '../sessions/session-queue.js';
import { formatSessionKey, type SessionKeyParts } from '../sessions/session-key.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { StoredMessage } from '../sessions/session-types.js';
import { agentProfile } from './agents.js';
import { replyOf, runAgentLoop, type AgentEvent } from './agent-loop.js';
import { toModelMessages } from './messages.js';
import { requireModel } from './default-model.js';
import { createModelResolver } from './providers.js';
import type { ToolRegistry } from './tool-registry.js';
import { NO_METRICS, type Metrics } from '../metrics/metrics.js';

export interface AgentServiceOptions {
  config: Config;
  logger: Logger;
  store: SessionStore;
  queue: KeyedQueue;
  tools: ToolRegistry;
  /** Counts turns and model calls. */
  metrics?: Metrics;
}

export interface ChatRequest {
  /** The session the message belongs to; its agent must be enabled. */
  session: SessionKeyParts;
  message: string;
  /** Text deltas and tool activity while the turn runs (streaming clients). */
  onEvent?: (event: AgentEvent) => void;
  /** The id of the request being answered (an async message's message_id), stored in the same write as the turn. */
  ref?: string;
  /**
   * With `ref`, for a request accepted at this time (epoch ms) and answered again because
   * its worker died: if the session already holds the turn for `ref`, that turn is the
   * result and the model is not called again.
   */
  acceptedAt?: number;
  /** Added to the agent's system prompt for this turn only (an OpenAI client's system messages). */
  systemPrompt?: string;
  /**
   * The conversation before `message`, used instead of the session's history (an OpenAI
   * client that names no session sends the whole conversation each time). Only the turn
   * itself is stored.
   */
  context?: StoredMessage[];
}

export interface ChatResult {
  reply: string;
  sessionKey: string;
  /** Messages in the session after this turn. */
  messageCount: number;
  /** The turn was found already stored (see ChatRequest.acceptedAt), not run now. */
  alreadyStored?: boolean;
  /** Tokens the provider reported for the turn's model calls (0 when it reports none). */
  usage: { input: number; output: number };
  /** Why the last model call stopped: a final answer, or the model's output limit. */
  finishReason: 'stop' | 'length';
}

/** A turn whose agent and model are known to be usable; `run` queues and runs it. */
export interface PreparedTurn {
  /** `signal` cancels the turn (the client went away): the model call is aborted and nothing is stored. */
  run(onEvent?: (event: AgentEvent) => void, signal?: AbortSignal): Promise<ChatResult>;
}

export interface AgentService {
  /**
   * Runs one turn in a session: queued behind earlier messages of the same session,
   * answered by the session's agent with the latest history as context, stored as one
   * record only once the agent has answered. Throws AGENT_ERROR when the provider fails.
   */
  chat(request: ChatRequest): Promise<ChatResult>;
  /**
   * The checks of `chat` that need no model call (agent enabled, provider configured),
   * so a streaming route can still answer a plain error before it starts streaming.
   */
  prepare(request: Omit<ChatRequest, 'onEvent'>): Promise<PreparedTurn>;
  /** Cancels turns still running and waits (bounded) for the queues to settle. */
  close(timeoutMs?: number): Promise<void>;
}

const CLOSE_WAIT_MS = 2000;
// A stored turn is looked for back to this long before its request was accepted, in case
// the clock was stepped back between the two (NTP); the look-up still stops at the session's tail.
const CLOCK_SLACK_MS = 10 * 60_000;

/** The agent behind /api/agent, the channels and cron. */
export function createAgentService(options: AgentServiceOptions): AgentService {
  const { config, store, queue, tools } = options;
  const logger = options.logger.child({ component: 'agent' });
  const resolver = createModelResolver(config);
  const shutdown = new AbortController();
  const defaults = config.agents.defaults;
  const metrics = options.metrics ?? NO_METRICS;

  const service: AgentService = {
    async chat({ onEvent, ...request }) {
      return (await service.prepare(request)).run(onEvent);
    },

    async prepare({ session, message, ref, acceptedAt, systemPrompt, context }) {
      const sessionKey = formatSessionKey(session);
      if (shutdown.signal.aborted) throw apiError('AGENT_ERROR', 'The gateway is shutting down; retry shortly');
      const profile = agentProfile(config, session.agentId);
      // Fails fast, before the session is touched, when no provider is configured.
      const { setting, chosenBy } = profile.model;
      const resolved = await resolver.resolve(requireModel(profile.model, profile.id), { agentId: profile.id, setting, ...(chosenBy ? { chosenBy } : {}) });

      const run = (onEvent?: (event: AgentEvent) => void, signal?: AbortSignal) => queue.run(sessionKey, async () => {
        const startedAt = Date.now();
        if (ref !== undefined && acceptedAt !== undefined) {
          // Inside the session's queue, so no turn of this session is being written meanwhile.
          const stored = await store.findTurn(session, ref, acceptedAt - CLOCK_SLACK_MS);
          if (stored) return { reply: replyOf(stored.messages), sessionKey, messageCount: stored.seq + stored.messages.length, alreadyStored: true, usage: { input: 0, output: 0 }, finishReason: 'stop' as const };
        }
        // A new session is created on its first message; an existing one is only read.
        const recent = context
          ? { messages: context, messageCount: (await store.ensure(session)).info.messageCount }
          : (await store.readRecent(session, defaults.contextMessages)) ?? (await store.ensure(session), { messages: [], messageCount: 0 });
        try {
          const result = await runAgentLoop({
            resolved,
            systemPrompt: systemPrompt ? `${profile.systemPrompt}\n\n${systemPrompt}` : profile.systemPrompt,
            history: toModelMessages(recent.messages),
            userMessage: message,
            tools: tools.list(),
            toolContext: { sessionKey, ...session },
            maxSteps: defaults.maxSteps,
            timeoutMs: defaults.timeoutMs,
            maxRetries: defaults.maxRetries,
            signal: signal ? AbortSignal.any([shutdown.signal, signal]) : shutdown.signal,
            onEvent,
            onModelCall: metrics.enabled ? (call) => metrics.modelCall({ provider: resolved.provider, model: resolved.model.id, seconds: call.seconds, ok: call.ok, inputTokens: call.input, outputTokens: call.output }) : undefined,
          });
          await store.appendTurn(session, recent.messageCount, result.messages, ref);
          metrics.agentTurn(profile.id, 'ok');
          logger.info({ session: sessionKey, model: resolved.ref, steps: result.steps, usage: result.usage, ms: Date.now() - startedAt }, 'agent turn finished');
          return { reply: result.reply, sessionKey, messageCount: recent.messageCount + result.messages.length, usage: result.usage, finishReason: result.finishReason };
        } catch (err) {
          metrics.agentTurn(profile.id, 'error');
          logger.warn({ err, session: sessionKey, model: resolved.ref, ms: Date.now() - startedAt }, 'agent turn failed; nothing was stored for it');
          throw err;
        }
      }).catch((err: unknown) => {
        // A full or read-only disk is neither the provider's fault nor an internal error.
        throw storageFaultCode(err) && !(err instanceof ApiError) ? storageUnavailable(err) : err;
      });
      return { run };
    },

    async close(timeoutMs = CLOSE_WAIT_MS) {
      shutdown.abort();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([queue.idle(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
  return service;
}
