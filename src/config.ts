import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-write.js';

/** A config problem the user must fix; the message names the file and the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const idPattern = /^[a-z0-9_-]{1,64}$/;
const nullableString = z.string().min(1).nullable().default(null);

// Objects are "loose": keys we do not know are kept, so a newer config survives an older gateway.
const gatewaySchema = z.looseObject({
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(18790),
  auth: z.looseObject({ token: z.string().min(16, 'must be at least 16 characters').nullable().default(null) }).prefault({}),
  drainTimeoutMs: z.number().int().min(0).max(600_000).default(5000),
  bodyLimit: z.union([z.string().regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'must be a size such as "1mb"'), z.number().int().positive()]).default('1mb'),
  cors: z.looseObject({ origins: z.array(z.string().min(1)).default([]) }).prefault({}),
});

const agentSchema = z.looseObject({
  id: z.string().regex(idPattern, 'must match [a-z0-9_-]{1,64}'),
  enabled: z.boolean().default(true),
  model: nullableString,
  systemPrompt: nullableString,
});

const agentsSchema = z.looseObject({
  default: z.string().regex(idPattern).nullable().default('main'),
  defaults: z.looseObject({
    model: z.string().min(1).default('openai/gpt-4o-mini'),
    /** Bound on one model call (the whole streamed answer), in ms. */
    timeoutMs: z.number().int().positive().default(60_000),
    /** Model calls per turn; a turn that still wants tools after this many fails. */
    maxSteps: z.number().int().min(1).max(100).default(8),
    /** Retries the provider SDK makes on 429/5xx/connection errors, inside timeoutMs. */
    maxRetries: z.number().int().min(0).max(10).default(2),
    /** At least this many of the latest session messages are sent as context (whole turns). */
    contextMessages: z.number().int().min(1).max(10_000).default(40),
    /** Longest accepted user message, in characters. */
    maxMessageChars: z.number().int().min(1).max(10_000_000).default(100_000),
  }).prefault({}),
  list: z.array(agentSchema).default([{ id: 'main', enabled: true, model: null, systemPrompt: null }]),
});

/** Wire protocols a provider can speak; `api` picks one for servers the model catalog does not know. */
export const PROVIDER_APIS = ['openai-completions', 'openai-responses', 'anthropic-messages', 'google-generative-ai', 'mistral-conversations'] as const;

const providerSchema = z.looseObject({
  apiKey: nullableString,
  baseUrl: z.url().nullable().default(null),
  /** Default: the catalog's protocol for known providers, `openai-completions` for any other (Ollama, vLLM, LM Studio, LiteLLM). */
  api: z.enum(PROVIDER_APIS).nullable().default(null),
});

/** Bounded retries with exponential backoff (delays double from minDelayMs up to maxDelayMs, with jitter). */
function retrySchema(defaults: { attempts: number; minDelayMs: number; maxDelayMs: number }) {
  return z.looseObject({
    /** Tries in all, the first one included. */
    attempts: z.number().int().min(1).max(20).default(defaults.attempts),
    minDelayMs: z.number().int().min(0).max(600_000).default(defaults.minDelayMs),
    maxDelayMs: z.number().int().min(0).max(600_000).default(defaults.maxDelayMs),
  }).prefault({});
}

const telegramSchema = z.looseObject({
  enabled: z.boolean().default(false),
  token: nullableString,
  /** Usernames (with or without @) or numeric user/chat ids; empty lets everyone in (a warning is logged). */
  allowFrom: z.array(z.union([z.string().min(1), z.number().int()])).default([]),
  apiRoot: z.url().nullable().default(null),
  mode: z.enum(['polling', 'webhook']).default('polling'),
  /** Telegram's secret_token: 1-256 of [A-Za-z0-9_-], checked against X-Telegram-Bot-Api-Secret-Token. */
  webhookSecret: z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 characters of [A-Za-z0-9_-]').nullable().default(null),
  /** Public URL of /api/webhook/telegram; when set, the gateway registers it with setWebhook. */
  webhookUrl: z.url().nullable().default(null),
  /** Long-poll timeout passed to getUpdates. */
  pollTimeoutSeconds: z.number().int().min(0).max(50).default(25),
  /** Least time between two getUpdates calls when the last one brought nothing (servers that do not long-poll). */
  pollIntervalMs: z.number().int().min(0).max(60_000).default(200),
  sendRetry: retrySchema({ attempts: 3, minDelayMs: 500, maxDelayMs: 5000 }),
}).superRefine((telegram, ctx) => {
  if (!telegram.enabled) return;
  if (!telegram.token) ctx.addIssue({ code: 'custom', path: ['token'], message: 'required when channels.telegram.enabled is true' });
  if (telegram.mode === 'webhook' && !telegram.webhookSecret) {
    ctx.addIssue({ code: 'custom', path: ['webhookSecret'], message: 'required when channels.telegram.mode is "webhook" (it authenticates Telegram\'s calls)' });
  }
});

const webhookChannelSchema = z.looseObject({
  enabled: z.boolean().default(false),
  /** HMAC-SHA256 key for inbound signatures and signed replies. */
  secret: nullableString,
  /** Where replies are POSTed; without it replies stay in the session. */
  replyUrl: z.url().nullable().default(null),
  /** One reply POST may take this long before it counts as failed. */
  replyTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  replyRetry: retrySchema({ attempts: 5, minDelayMs: 1000, maxDelayMs: 30_000 }),
}).superRefine((webhook, ctx) => {
  if (webhook.enabled && !webhook.secret) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'required when channels.webhook.enabled is true (it signs and verifies webhooks)' });
});

const channelsSchema = z.looseObject({
  telegram: telegramSchema.prefault({}),
  webhook: webhookChannelSchema.prefault({}),
});

const loggingSchema = z.looseObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  file: nullableString,
  maxSizeBytes: z.number().int().min(1024).default(10 * 1024 * 1024),
  maxFiles: z.number().int().min(1).max(100).default(5),
});

export const configSchema = z.looseObject({
  gateway: gatewaySchema.prefault({}),
  agents: agentsSchema.prefault({}),
  providers: z.record(z.string(), providerSchema).default({}),
  channels: channelsSchema.prefault({}),
  logging: loggingSchema.prefault({}),
});

export type Config = z.infer<typeof configSchema>;

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

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    throw new ConfigError(`Invalid config ${path}: ${key}: ${issue.message}`);
  }
  return { path, config: parsed.data, raw, tokenSource };
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
