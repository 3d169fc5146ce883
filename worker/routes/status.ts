import * as v from 'valibot';
import type { Config } from '../../src/config.js';
import { VERSION } from '../../src/version.js';
import { defaultAgentId } from '../agent/agents.js';
import { chooseModel, requireModel } from '../agent/default-model.js';
import { createModelResolver } from '../agent/providers.js';
import { ApiError } from '../http/errors.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';

const AgentStatus = v.object({
  id: v.string(),
  enabled: v.boolean(),
  /** The agent requests go to when they name none. */
  default: v.boolean(),
  /** `provider/model`; null when no model is chosen (a server named by baseUrl alone). */
  model: v.nullable(v.string()),
  provider: v.string(),
  /** Whether a call to the model could be made: provider known or given a baseUrl, and a key found. */
  configured: v.boolean(),
  /** When not configured: what to set (the AGENT_ERROR message a chat would get). */
  problem: v.nullable(v.string()),
});

/** What GET /api/status answers. */
const StatusResponse = v.object({
  status: v.literal('ok'),
  version: v.string(),
  node: v.string(),
  /** Seconds since this worker started (as /health). */
  uptime: v.number(),
  startedAt: v.string(),
  pid: v.number(),
  workerPid: v.number(),
  host: v.string(),
  port: v.number(),
  channels: v.array(v.string()),
  agents: v.array(AgentStatus),
});

export interface StatusRouterOptions {
  config: Config;
  /** ms since epoch when this worker started. */
  startedAt: number;
  /** The supervisor's pid (the worker's parent). */
  supervisorPid: number;
  host: string;
  port: number;
  /** Names of the enabled channels. */
  channels(): string[];
}

/** `GET /api/status`: what the control page and scripts show about the running gateway. */
export function createStatusRouter(options: StatusRouterOptions): Routes {
  const { config } = options;
  const models = createModelResolver(config);
  const status = route({
    operationId: 'gatewayStatus',
    method: 'GET',
    path: '/api/status',
    tag: 'gateway',
    summary: 'Version, uptime, process ids, address, enabled channels and each agent\'s model provider',
    responses: { 200: { description: 'The running gateway', schema: StatusResponse } },
    errors: [],
    example: {},
  }, async (ctx) => {
    const fallback = defaultAgentId(config);
    const agents = await Promise.all(config.agents.list.map(async (agent) => {
      const choice = chooseModel(config, agent.id);
      let problem: string | null = null;
      try {
        const { setting, chosenBy } = choice;
        await models.resolve(requireModel(choice, agent.id), { agentId: agent.id, setting, ...(chosenBy ? { chosenBy } : {}) });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        problem = err.message;
      }
      const provider = choice.ref?.split('/')[0] ?? choice.provider ?? '';
      return { id: agent.id, enabled: agent.enabled, default: agent.id === fallback, model: choice.ref, provider, configured: problem === null, problem };
    }));
    const body: v.InferOutput<typeof StatusResponse> = {
      status: 'ok',
      version: VERSION,
      node: process.version,
      uptime: Math.max(0, Math.floor((Date.now() - options.startedAt) / 1000)),
      startedAt: new Date(options.startedAt).toISOString(),
      pid: options.supervisorPid,
      workerPid: process.pid,
      host: options.host,
      port: options.port,
      channels: options.channels(),
      agents,
    };
    ctx.body = body;
  });
  return routeGroup([status]);
}
