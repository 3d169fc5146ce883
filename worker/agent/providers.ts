import type { Api, Model } from '@mariozechner/pi-ai';
import type { Config } from '../../src/config.js';
import { apiError } from '../http/errors.js';
import { envKeyName, FALLBACK_MODEL } from './default-model.js';

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
  /** `provider/model`. */
  ref: string;
  provider: string;
  model: Model<Api>;
  apiKey: string;
  /** The URL the model is called at, for error messages. */
  endpoint: string;
  /** Where the key comes from, for "check the key" messages. */
  keySource: string;
  /** Which setting decides the server's URL, for "could not connect" messages. */
  baseUrlSetting: string;
}

/** Where an agent's model was configured, so that a message can say what to change. */
export interface ModelOrigin {
  agentId: string;
  /** `agents.list[N].model` or `agents.defaults.model`. */
  setting: string;
  /** How the model was chosen when the setting is not set. */
  chosenBy?: string;
}

// Sent to servers that need no key (a local Ollama): the SDKs refuse to run without one.
const NO_KEY_PLACEHOLDER = 'not-needed';

/**
 * Turns `provider/model` into a callable model using `providers.<name>` from the
 * config: the library's catalog for providers it knows (a `baseUrl` overrides the
 * endpoint, `api` the protocol), an OpenAI-compatible endpoint for any other name
 * with a `baseUrl`. A `baseUrl` that is not the provider's own makes an OpenAI-family
 * model speak chat completions unless `api` says otherwise: the servers people point it
 * at (Ollama, vLLM, LM Studio, llama.cpp, LiteLLM) have no Responses API. Every failure
 * is an AGENT_ERROR that names both the provider setting and the model setting to change.
 */
export function createModelResolver(config: Config): { resolve(ref: string, origin: ModelOrigin): Promise<ResolvedModel> } {
  const cache = new Map<string, ResolvedModel>();

  async function build(ref: string, origin: ModelOrigin): Promise<ResolvedModel> {
    const slash = ref.indexOf('/');
    const provider = slash > 0 ? ref.slice(0, slash) : '';
    const modelId = slash > 0 ? ref.slice(slash + 1) : '';
    const from = describeOrigin(ref, origin);
    if (!provider || !modelId) {
      throw apiError('AGENT_ERROR', `Model "${ref}" (${from}) is not of the form provider/model (for example openai/gpt-4o-mini): fix ${origin.setting}`);
    }
    const settings = config.providers[provider];
    const pi = await loadPiAi();
    const known = (pi.getProviders() as string[]).includes(provider);
    const baseUrl = settings?.baseUrl ?? null;
    const envName = envKeyName(provider);
    const apiKey = settings?.apiKey ?? pi.getEnvApiKey(provider) ?? (baseUrl ? NO_KEY_PLACEHOLDER : null);

    if (!known && !baseUrl) {
      throw apiError('AGENT_ERROR', `Model provider '${provider}' (${from}) is not configured: set providers.${provider}.baseUrl to an OpenAI-compatible server (and providers.${provider}.apiKey if it needs one), or choose another model with ${origin.setting}`);
    }
    if (!apiKey) {
      // Nothing is set up at all: name the other ways in too.
      const others = ref === FALLBACK_MODEL && origin.chosenBy ? ` (or ANTHROPIC_API_KEY, or providers.<name>.baseUrl for a local server: see "Local models" in the README)` : '';
      throw apiError('AGENT_ERROR', `No API key for model provider '${provider}' (${from}): set the ${envName} environment variable or providers.${provider}.apiKey in the config${others}, or choose another model with ${origin.setting}`);
    }

    let model: Model<Api>;
    if (known) {
      const catalog = pi.getModels(provider as never) as Model<Api>[];
      const template = catalog.find((entry) => entry.id === modelId) ?? catalog[0];
      model = template
        ? { ...template, id: modelId, name: template.id === modelId ? template.name : modelId }
        : genericModel(provider, modelId, baseUrl ?? '');
      if (baseUrl && baseUrl !== model.baseUrl && model.api === 'openai-responses') model = { ...model, api: 'openai-completions' };
    } else {
      model = genericModel(provider, modelId, baseUrl!);
    }
    if (baseUrl) model = { ...model, baseUrl };
    if (settings?.api) model = { ...model, api: settings.api };
    return {
      ref,
      provider,
      model,
      apiKey,
      endpoint: endpointOf(model),
      keySource: settings?.apiKey ? `providers.${provider}.apiKey (or ${envName})` : apiKey === NO_KEY_PLACEHOLDER ? `providers.${provider}.apiKey is not set` : envName,
      baseUrlSetting: baseUrl ? `providers.${provider}.baseUrl` : `the default URL of '${provider}' (set providers.${provider}.baseUrl to change it)`,
    };
  }

  return {
    async resolve(ref, origin) {
      const cached = cache.get(ref);
      if (cached) return cached;
      const resolved = await build(ref, origin);
      cache.set(ref, resolved);
      return resolved;
    },
  };
}

/** "model X of agent 'main', from agents.defaults.model", or why it was chosen when that is not set. */
export function describeOrigin(ref: string, origin: ModelOrigin): string {
  const how = origin.chosenBy ? `${origin.setting} is not set; chosen because ${origin.chosenBy}` : `from ${origin.setting}`;
  return `model ${ref} of agent '${origin.agentId}', ${how}`;
}

/** The URL a model call goes to, by protocol (as the providers' SDKs build it). */
function endpointOf(model: Model<Api>): string {
  const base = model.baseUrl.replace(/\/+$/, '');
  switch (model.api) {
    case 'openai-completions':
      return `${base}/chat/completions`;
    case 'openai-responses':
      return `${base}/responses`;
    case 'anthropic-messages':
      return `${base}/v1/messages`;
    case 'mistral-conversations':
      return `${base}/v1/chat/completions`;
    case 'google-generative-ai':
      return `${base}/models/${model.id}:streamGenerateContent`;
    default:
      return base;
  }
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
