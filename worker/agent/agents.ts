import type { Config } from '../../src/config.js';
import { apiError } from '../http/errors.js';
import { chooseModel, type ModelChoice } from './default-model.js';
import { describeBadKey, isPeerId, parseSessionKey, PEER_RULE, type SessionKeyParts } from '../sessions/session-key.js';

/** One entry of `agents.list` with the defaults filled in. */
export interface AgentProfile {
  id: string;
  /** Its model and the setting that picks it. */
  model: ModelChoice;
  systemPrompt: string;
}

export const DEFAULT_SYSTEM_PROMPT =
  "You are xopc, a personal AI assistant running on the user's own machine. Answer concisely. Use the tools you have when they help; never invent their results.";

/** The channel segment of sessions addressed by name through POST /api/agent. */
export const API_CHANNEL = 'api';
export const DEFAULT_SESSION_NAME = 'default';

/** `agents.default` when it names an enabled agent, else the first enabled one, else null. */
export function defaultAgentId(config: Config): string | null {
  const enabled = config.agents.list.filter((agent) => agent.enabled);
  return enabled.find((agent) => agent.id === config.agents.default)?.id ?? enabled[0]?.id ?? null;
}

/**
 * The agent a request runs on: the requested one if it is an enabled entry of
 * `agents.list` (INVALID_REQUEST otherwise), else the default.
 */
export function resolveAgentId(config: Config, requested: string | undefined): string {
  if (requested !== undefined) {
    const agent = config.agents.list.find((entry) => entry.id === requested);
    if (!agent) throw apiError('INVALID_REQUEST', `Unknown agentId "${clip(requested)}": not in agents.list`);
    if (!agent.enabled) throw apiError('INVALID_REQUEST', `Agent "${requested}" is disabled (agents.list[].enabled)`);
    return agent.id;
  }
  const fallback = defaultAgentId(config);
  if (!fallback) throw apiError('AGENT_ERROR', 'No agent is enabled: add an enabled entry to agents.list in the config');
  return fallback;
}

export function agentProfile(config: Config, agentId: string): AgentProfile {
  const agent = config.agents.list.find((entry) => entry.id === agentId && entry.enabled);
  if (!agent) throw apiError('INVALID_REQUEST', `Unknown or disabled agent "${clip(agentId)}"`);
  return { id: agent.id, model: chooseModel(config, agent.id), systemPrompt: agent.systemPrompt ?? DEFAULT_SYSTEM_PROMPT };
}

/**
 * The rule for every place that takes a session key (POST /api/agent's `session`, GET and
 * DELETE /api/sessions/:key): a full key `{agentId}:{channel}:{peerId}` is used as is (its
 * agent must agree with `agentId` when both are given); a name without a colon stands for
 * `{agent}:api:{name}`, the agent being `agentId` or the default one.
 */
export function resolveSessionKey(config: Config, key: string, agentId?: string): SessionKeyParts {
  if (key.includes(':')) {
    const parts = parseSessionKey(key);
    if (!parts) throw apiError('INVALID_REQUEST', describeBadKey(key));
    if (agentId !== undefined && agentId !== parts.agentId) {
      throw apiError('INVALID_REQUEST', `agentId "${clip(agentId)}" does not match the agent of session "${clip(key)}"`);
    }
    return parts;
  }
  if (!isPeerId(key)) {
    throw apiError('INVALID_REQUEST', `Invalid session name "${clip(key)}": use ${PEER_RULE} without ':', or a full key {agentId}:{channel}:{peerId}`);
  }
  return { agentId: resolveAgentId(config, agentId), channel: API_CHANNEL, peerId: key };
}

/**
 * Where a POST /api/agent message goes (SPEC 5): `session` (default "default") by
 * `resolveSessionKey`; the session's agent must be enabled.
 */
export function resolveChatTarget(config: Config, input: { session?: string; agentId?: string }): SessionKeyParts {
  const parts = resolveSessionKey(config, input.session ?? DEFAULT_SESSION_NAME, input.agentId);
  resolveAgentId(config, parts.agentId);
  return parts;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
