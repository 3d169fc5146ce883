import type { Api, Model } from '@mariozechner/pi-ai';
import type { Config } from '../../src/config.js';
import { apiError } from '../http/errors.js';

type PiAi = typeof import('@mariozechner/pi-ai');

let piAi: Promise<PiAi> | undefined;

/**
 * The model library, loaded on first use: a gateway without a provider never pays for
 * it, and the worker is ready to serve ~300 ms sooner after a restart.
 */
export function loadPiAi(): Promise<PiAi> {
  return (piAi ??= import('@mariozechner/pi-ai'));
}

/** A model ready to call: the library's description of it and the key to call it with. */
export interface ResolvedModel {
  /** As configured, `provider/model`. */
  ref: string;
  provider: string;
  model: Model<Api>;
  apiKey: string;
}

// Sent to servers that need no key (a local Ollama): the SDKs refuse to run without one.
const NO_KEY_PLACEHOLDER = 'not-needed';

// Shown in "what to set" messages; pi-ai knows the full list, this is for the common ones.
const ENV_KEY_NAMES: Record<string, string> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  google: 'GEMINI_API_KEY',
};

/**
 * Turns `provider/model` into a callable model using `providers.<name>` from the
 * config: the library's catalog for providers it knows (a `baseUrl` overrides the
 * endpoint, `api` the protocol), an OpenAI-compatible endpoint for any other name
 * with a `baseUrl`. Every failure is an AGENT_ERROR that says what to set.
 */
export function createModelResolver(config: Config): { resolve(ref: string, agentId: string): Promise<ResolvedModel> } {
  const cache = new Map<string, ResolvedModel>();

  async function build(ref: string, agentId: string): Promise<ResolvedModel> {
    const slash = ref.indexOf('/');
    const provider = slash > 0 ? ref.slice(0, slash) : '';
    const modelId = slash > 0 ? ref.slice(slash + 1) : '';
    if (!provider || !modelId) {
      throw apiError('AGENT_ERROR', `Model "${ref}" of agent '${agentId}' is not of the form provider/model (for example openai/gpt-4o-mini): fix agents.defaults.model or the agent's model`);
    }
    const settings = config.providers[provider];
    const pi = await loadPiAi();
    const known = (pi.getProviders() as string[]).includes(provider);
    const baseUrl = settings?.baseUrl ?? null;
    const apiKey = settings?.apiKey ?? pi.getEnvApiKey(provider) ?? (baseUrl ? NO_KEY_PLACEHOLDER : null);

    if (!known && !baseUrl) {
      throw apiError('AGENT_ERROR', `Model provider '${provider}' (model ${ref}, agent '${agentId}') is not configured: set providers.${provider}.baseUrl to an OpenAI-compatible server (and providers.${provider}.apiKey if it needs one)`);
    }
    if (!apiKey) {
      const envName = ENV_KEY_NAMES[provider] ?? `${provider.toUpperCase().replace(/-/g, '_')}_API_KEY`;
      throw apiError('AGENT_ERROR', `No API key for model provider '${provider}' (model ${ref}, agent '${agentId}'): set providers.${provider}.apiKey in the config or the ${envName} environment variable`);
    }

    let model: Model<Api>;
    if (known) {
      const catalog = pi.getModels(provider as never) as Model<Api>[];
      const template = catalog.find((entry) => entry.id === modelId) ?? catalog[0];
      model = template
        ? { ...template, id: modelId, name: template.id === modelId ? template.name : modelId }
        : genericModel(provider, modelId, baseUrl ?? '');
    } else {
      model = genericModel(provider, modelId, baseUrl!);
    }
    if (baseUrl) model = { ...model, baseUrl };
    if (settings?.api) model = { ...model, api: settings.api };
    return { ref, provider, model, apiKey };
  }

  return {
    async resolve(ref, agentId) {
      const cached = cache.get(ref);
      if (cached) return cached;
      const resolved = await build(ref, agentId);
      cache.set(ref, resolved);
      return resolved;
    },
  };
}

/** A model the catalog does not describe: an OpenAI-compatible chat endpoint. */
function genericModel(provider: string, id: string, baseUrl: string): Model<Api> {
  return {
    id,
    name: id,
    api: 'openai-completions',
    provider,
    baseUrl,
    reasoning: false,
    input: ['text'],
    cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    contextWindow: 128_000,
    maxTokens: 8192,
  };
}
