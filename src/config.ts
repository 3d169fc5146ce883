import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { ConfigError } from './config-error.js';
import { array, boolean, either, integer, Invalid, looseObject, nullable, oneOf, record, string, withDefault, type Infer } from './validator.js';

export { ConfigError };

const id = string({ pattern: /^[a-z0-9_-]{1,64}$/, message: 'must match [a-z0-9_-]{1,64}' });
const nonEmpty = string({ min: 1 });
const nullableString = withDefault(nullable(nonEmpty), null);
const nullableUrl = withDefault(nullable(string({ url: true })), null);

// An object's default `{}` goes through its validator, so the defaults of its keys apply.
const gatewaySchema = looseObject({
  host: withDefault(nonEmpty, '0.0.0.0'),
  port: withDefault(integer(0, 65535), 18790),
  auth: withDefault(looseObject({ token: withDefault(nullable(string({ min: 16, message: 'must be at least 16 characters' })), null) }), {}),
  drainTimeoutMs: withDefault(integer(0, 600_000), 5000),
  bodyLimit: withDefault(either(string({ pattern: /^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i }), integer(1), 'must be a size such as "1mb" or a number of bytes'), '1mb'),
  cors: withDefault(looseObject({ origins: withDefault(array(nonEmpty), []) }), {}),
});

const agentSchema = looseObject({
  id,
  enabled: withDefault(boolean(), true),
  model: nullableString,
  systemPrompt: nullableString,
});

const agentsSchema = looseObject({
  default: withDefault(nullable(id), 'main'),
  defaults: withDefault(looseObject({
    model: withDefault(nonEmpty, 'openai/gpt-4o-mini'),
    /** Bound on one model call (the whole streamed answer), in ms. */
    timeoutMs: withDefault(integer(1), 60_000),
    /** Model calls per turn; a turn that still wants tools after this many fails. */
    maxSteps: withDefault(integer(1, 100), 8),
    /** Retries the provider SDK makes on 429/5xx/connection errors, inside timeoutMs. */
    maxRetries: withDefault(integer(0, 10), 2),
    /** At least this many of the latest session messages are sent as context (whole turns). */
    contextMessages: withDefault(integer(1, 10_000), 40),
    /** Longest accepted user message, in characters. */
    maxMessageChars: withDefault(integer(1, 10_000_000), 100_000),
  }), {}),
  list: withDefault(array(agentSchema), [{ id: 'main', enabled: true, model: null, systemPrompt: null }]),
});

/** Wire protocols a provider can speak; `api` picks one for servers the model catalog does not know. */
export const PROVIDER_APIS = ['openai-completions', 'openai-responses', 'anthropic-messages', 'google-generative-ai', 'mistral-conversations'] as const;

const providerSchema = looseObject({
  apiKey: nullableString,
  baseUrl: nullableUrl,
  /** Default: the catalog's protocol for known providers, `openai-completions` for any other (Ollama, vLLM, LM Studio, LiteLLM). */
  api: withDefault(nullable(oneOf(PROVIDER_APIS)), null),
});

/** Bounded retries with exponential backoff (delays double from minDelayMs up to maxDelayMs, with jitter). */
function retrySchema(defaults: { attempts: number; minDelayMs: number; maxDelayMs: number }) {
  return withDefault(looseObject({
    /** Tries in all, the first one included. */
    attempts: withDefault(integer(1, 20), defaults.attempts),
    minDelayMs: withDefault(integer(0, 600_000), defaults.minDelayMs),
    maxDelayMs: withDefault(integer(0, 600_000), defaults.maxDelayMs),
  }), {});
}

const telegramSchema = looseObject({
  enabled: withDefault(boolean(), false),
  token: nullableString,
  /** Usernames (with or without @) or numeric user/chat ids; empty lets everyone in (a warning is logged). */
  allowFrom: withDefault(array(either(nonEmpty, integer(Number.MIN_SAFE_INTEGER), 'must be a username or a numeric id')), []),
  apiRoot: nullableUrl,
  mode: withDefault(oneOf(['polling', 'webhook']), 'polling'),
  /** Telegram's secret_token: 1-256 of [A-Za-z0-9_-], checked against X-Telegram-Bot-Api-Secret-Token. */
  webhookSecret: withDefault(nullable(string({ pattern: /^[A-Za-z0-9_-]{1,256}$/, message: 'must be 1-256 characters of [A-Za-z0-9_-]' })), null),
  /** Public URL of /api/webhook/telegram; when set, the gateway registers it with setWebhook. */
  webhookUrl: nullableUrl,
  /** Long-poll timeout passed to getUpdates. */
  pollTimeoutSeconds: withDefault(integer(0, 50), 25),
  /** Least time between two getUpdates calls when the last one brought nothing (servers that do not long-poll). */
  pollIntervalMs: withDefault(integer(0, 60_000), 200),
  sendRetry: retrySchema({ attempts: 3, minDelayMs: 500, maxDelayMs: 5000 }),
}, [
  (telegram) => (telegram.enabled && !telegram.token ? ['token', 'required when channels.telegram.enabled is true'] : null),
  (telegram) => (telegram.enabled && telegram.mode === 'webhook' && !telegram.webhookSecret ? ['webhookSecret', 'required when channels.telegram.mode is "webhook" (it authenticates Telegram\'s calls)'] : null),
]);

const webhookChannelSchema = looseObject({
  enabled: withDefault(boolean(), false),
  /** HMAC-SHA256 key for inbound signatures and signed replies. */
  secret: nullableString,
  /** Where replies are POSTed; without it replies stay in the session. */
  replyUrl: nullableUrl,
  /** One reply POST may take this long before it counts as failed. */
  replyTimeoutMs: withDefault(integer(100, 300_000), 10_000),
  replyRetry: retrySchema({ attempts: 5, minDelayMs: 1000, maxDelayMs: 30_000 }),
}, [(webhook) => (webhook.enabled && !webhook.secret ? ['secret', 'required when channels.webhook.enabled is true (it signs and verifies webhooks)'] : null)]);

const channelsSchema = looseObject({
  telegram: withDefault(telegramSchema, {}),
  webhook: withDefault(webhookChannelSchema, {}),
});

const loggingSchema = looseObject({
  level: withDefault(oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'),
  file: nullableString,
  maxSizeBytes: withDefault(integer(1024), 10 * 1024 * 1024),
  maxFiles: withDefault(integer(1, 100), 5),
});

const schema = looseObject({
  gateway: withDefault(gatewaySchema, {}),
  agents: withDefault(agentsSchema, {}),
  providers: withDefault(record(providerSchema), {}),
  channels: withDefault(channelsSchema, {}),
  logging: withDefault(loggingSchema, {}),
});

export type Config = Infer<typeof schema>;

/** Validates a config object: fills in defaults, keeps unknown keys, fails with a ConfigError naming the first invalid key. */
export function parseConfig(input: unknown, source = 'config'): Config {
  try {
    return schema(input);
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    throw new ConfigError(`Invalid ${source}: ${err.path.join('.') || '(root)'}: ${err.message}`);
  }
}

/** `configSchema.parse(value)`, the name callers that hold a config object (tests, fixtures) use. */
export const configSchema = { parse: (input: unknown): Config => parseConfig(input) };

/** Values given on the command line; they win over everything else. */
export interface ConfigFlags {
  port?: number;
  host?: string;
  token?: string;
}

export type TokenSource = 'flag' | 'env' | 'file' | 'generated' | 'none';

export interface LoadedConfig {
  path: string;
  config: Config;
  /** The file's JSON as written (unknown keys included), {} when there is no file. */
  raw: Record<string, unknown>;
  tokenSource: TokenSource;
}

/** Reads the config file (missing = defaults), applies env then flags, validates. No writes. */
export function loadConfig(path: string, flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const raw = readRawConfig(path);
  const merged = structuredClone(raw) as Record<string, any>;
  let tokenSource: TokenSource = hasToken(merged) ? 'file' : 'none';

  // Environment beats the file.
  if (env.XOPC_GATEWAY_TOKEN) {
    setPath(merged, ['gateway', 'auth', 'token'], env.XOPC_GATEWAY_TOKEN);
    tokenSource = 'env';
  }
  for (const [provider, variable] of [['openai', 'OPENAI_API_KEY'], ['anthropic', 'ANTHROPIC_API_KEY']] as const) {
    if (env[variable]) setPath(merged, ['providers', provider, 'apiKey'], env[variable]);
  }
  // Flags beat the environment.
  if (flags.port !== undefined) setPath(merged, ['gateway', 'port'], flags.port);
  if (flags.host !== undefined) setPath(merged, ['gateway', 'host'], flags.host);
  if (flags.token !== undefined) {
    setPath(merged, ['gateway', 'auth', 'token'], flags.token);
    tokenSource = 'flag';
  }

  return { path, config: parseConfig(merged, `config ${path}`), raw, tokenSource };
}

/**
 * Makes sure the gateway has a token: when none is configured anywhere, generates
 * one (32 random bytes, base64url) and stores it in the config file (0600, atomic).
 */
export function ensureToken(loaded: LoadedConfig): LoadedConfig {
  if (loaded.config.gateway.auth.token) return loaded;
  const token = randomBytes(32).toString('base64url');
  const raw = structuredClone(loaded.raw) as Record<string, any>;
  setPath(raw, ['gateway', 'auth', 'token'], token);
  writeConfigFile(loaded.path, raw);
  const config = structuredClone(loaded.config);
  config.gateway.auth.token = token;
  return { ...loaded, raw, config, tokenSource: 'generated' };
}

/** Writes the config JSON atomically with mode 0600. */
export function writeConfigFile(path: string, raw: Record<string, unknown>): void {
  writeFileAtomic(path, JSON.stringify(raw, null, 2) + '\n', 0o600);
}

/** Masks a token for display: first 8 and last 8 characters. */
export function maskToken(token: string | null | undefined): string {
  if (!token) return '(none)';
  if (token.length <= 16) return `${token.slice(0, 2)}...${token.slice(-2)}`;
  return `${token.slice(0, 8)}...${token.slice(-8)}`;
}

function readRawConfig(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read config ${path}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`Config ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

function hasToken(raw: Record<string, any>): boolean {
  return typeof raw.gateway?.auth?.token === 'string' && raw.gateway.auth.token.length > 0;
}

function setPath(target: Record<string, any>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key];
  }
  node[keys[keys.length - 1]!] = value;
}

export { parseSize } from './size.js';
