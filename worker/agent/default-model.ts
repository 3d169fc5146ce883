import type { Config } from '../../src/config.js';
import { apiError } from '../http/errors.js';

/** Where an agent's model comes from: for the start-up log and for messages that say what to change. */
export interface ModelChoice {
  /** `provider/model`; null when a provider is set up but which of its models to use cannot be guessed. */
  ref: string | null;
  /** The config key that picks the agent's model: `agents.list[N].model` or `agents.defaults.model`. */
  setting: string;
  /** Why this model was chosen when that key is not set ("ANTHROPIC_API_KEY is set"); absent when the config names it. */
  chosenBy?: string;
  /** With `ref` null: the provider the choice fell on, if there was one. */
  provider?: string;
}

/**
 * Provider keys in the environment, in the order a default model prefers them. The model
 * library reads them; loadConfig also copies OpenAI's and Anthropic's into the config.
 */
export const PROVIDER_ENV_KEYS: Record<string, string> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  google: 'GEMINI_API_KEY',
};

/** What a provider's key alone buys: a small, cheap, current model of that provider. */
const PROVIDER_DEFAULT_MODELS: Record<string, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-haiku-4-5',
  google: 'gemini-2.5-flash',
};

// When no provider is set up at all: the model whose key the "no key" message then asks for.
export const FALLBACK_MODEL = 'openai/gpt-4o-mini';

/** The name of a provider's key variable, for "what to set" messages. */
export function envKeyName(provider: string): string {
  return PROVIDER_ENV_KEYS[provider] ?? `${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_API_KEY`;
}

/**
 * The model an agent runs on: its own `model`, else `agents.defaults.model`, else a default
 * that follows the provider the user has set up (see `defaultModel`).
 */
export function chooseModel(config: Config, agentId: string, env: NodeJS.ProcessEnv = process.env): ModelChoice {
  const index = config.agents.list.findIndex((agent) => agent.id === agentId);
  const own = index === -1 ? null : config.agents.list[index]!.model;
  if (own) return { ref: own, setting: `agents.list[${index}].model` };
  if (config.agents.defaults.model) return { ref: config.agents.defaults.model, setting: 'agents.defaults.model' };
  return { ...defaultModel(config, env), setting: 'agents.defaults.model' };
}

/**
 * With no model configured: the provider that has a key (OpenAI first, then Anthropic,
 * Google, then the others in config order), or the only provider configured, with its
 * default model. Servers named by a `baseUrl` alone (Ollama, vLLM, ...) have models only
 * the user knows, so there the choice is left to `agents.defaults.model`.
 */
export function defaultModel(config: Config, env: NodeJS.ProcessEnv): Omit<ModelChoice, 'setting'> {
  const configured = Object.entries(config.providers)
    .filter(([, settings]) => Boolean(settings.apiKey || settings.baseUrl))
    .map(([name]) => name);
  for (const [name, variable] of Object.entries(PROVIDER_ENV_KEYS)) {
    if (env[variable] && !configured.includes(name)) configured.push(name);
  }
  const hasKey = (name: string) => Boolean(config.providers[name]?.apiKey || (PROVIDER_ENV_KEYS[name] && env[PROVIDER_ENV_KEYS[name]!]));
  const keyed = configured.filter(hasKey).sort((a, b) => preference(a) - preference(b));

  let provider: string;
  let chosenBy: string;
  if (keyed.length > 0) {
    provider = keyed[0]!;
    chosenBy = `${keySource(provider, env)} is set`;
  } else if (configured.length === 1) {
    provider = configured[0]!;
    chosenBy = `providers.${provider} is the only provider configured`;
  } else if (configured.length === 0) {
    return { ref: FALLBACK_MODEL, chosenBy: 'no provider has a key or a baseUrl' };
  } else {
    return { ref: null, chosenBy: `several providers are configured and none has a key (${configured.join(', ')})` };
  }
  const settings = config.providers[provider];
  // OpenAI's name with another baseUrl is an OpenAI-compatible server (providers.ts): its models are its own.
  const compatibleServer = provider === 'openai' && Boolean(settings?.baseUrl) && settings?.api !== 'openai-responses';
  const modelId = compatibleServer ? undefined : PROVIDER_DEFAULT_MODELS[provider];
  return modelId ? { ref: `${provider}/${modelId}`, chosenBy } : { ref: null, chosenBy, provider };
}

function preference(provider: string): number {
  const index = Object.keys(PROVIDER_ENV_KEYS).indexOf(provider);
  return index === -1 ? Number.MAX_SAFE_INTEGER : index;
}

function keySource(provider: string, env: NodeJS.ProcessEnv): string {
  const variable = PROVIDER_ENV_KEYS[provider];
  // loadConfig copies the variable into providers.<name>.apiKey, so the two look alike there.
  if (variable && env[variable]) return variable;
  return `providers.${provider}.apiKey`;
}

/** The choice's `provider/model`, or an AGENT_ERROR saying which setting picks one. */
export function requireModel(choice: ModelChoice, agentId: string): string {
  if (choice.ref) return choice.ref;
  const example = choice.provider ? `"${choice.provider}/<model>" (a model that server has, for example ${choice.provider}/llama3.1:8b)` : '"<provider>/<model>"';
  const agentSetting = choice.setting === 'agents.defaults.model' ? ' (or the agent\'s own agents.list[].model)' : '';
  throw apiError('AGENT_ERROR', `No model is chosen for agent '${agentId}': ${choice.setting} is not set and ${choice.chosenBy ?? 'no default applies'}, so the gateway cannot guess which model to use; set ${choice.setting}${agentSetting} to ${example}`);
}
