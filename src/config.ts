import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
// valibot rather than zod: the supervisor and every CLI command load this file, and zod
// costs them ~14 MB of RSS and ~70 ms of start-up where valibot costs ~1 MB and ~5 ms.
import * as v from 'valibot';
import { writeFileAtomic } from './atomic-write.js';
import { ConfigError } from './config-error.js';
import { joinKey } from './config-key-syntax.js';

export { ConfigError };

const idPattern = /^[a-z0-9_-]{1,64}$/;
const SECRET_KEY = /(token|apiKey|secret|password)$/i;
const nonEmptyString = v.pipe(v.string(), v.minLength(1));
const nullableString = v.optional(v.nullable(nonEmptyString), null);
const int = (min: number, max: number = Number.MAX_SAFE_INTEGER) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const url = v.pipe(v.string(), v.url());
const TOKEN_TOO_SHORT = (issue: { received: string }) =>
  `must be at least 16 characters (this one has ${issue.received.replace(/^"|"$/g, '')}): it opens the whole API, and the agent acting for you, to whoever has it, and a short one can be guessed; generate one with \`xopc gateway token --new\``;

// Objects are "loose": keys we do not know are kept, so a newer config survives an older gateway.
// An object's default `{}` goes through its schema, so the defaults of its keys apply.
/** An IPv4 or IPv6 address, optionally with a /prefix (CIDR). */
const addressOrCidr = v.pipe(v.string(), v.check(isAddressOrCidr, 'must be an IP address or a CIDR range such as "10.0.0.0/8"'));

const gatewaySchema = v.pipe(v.looseObject({
  host: v.optional(nonEmptyString, '0.0.0.0'),
  port: v.optional(int(0, 65535), 18790),
  auth: v.optional(v.looseObject({
    token: v.optional(v.nullable(v.pipe(v.string(), v.minLength(16, TOKEN_TOO_SHORT))), null),
    /** Whether loopback clients count toward the failed-auth lockout (off: the owner's own tools cannot be locked out). */
    lockoutLoopback: v.optional(v.boolean(), false),
  }), {}),
  /**
   * Reverse proxies whose X-Forwarded-For is believed, as addresses or CIDR ranges. A
   * request's client is the right-most X-Forwarded-For entry not in this list, walking
   * in from the socket's address; from anyone else the header is ignored.
   */
  trustedProxies: v.optional(v.array(addressOrCidr), []),
  /** Request line and headers must arrive within this (slow-header clients, silent sockets). */
  headersTimeoutMs: v.optional(int(1000, 600_000), 10_000),
  /** The whole request, body included, must arrive within this (slow-body clients). */
  requestTimeoutMs: v.optional(int(1000, 3_600_000), 30_000),
  /** A keep-alive connection with no request in progress is closed after this. */
  idleTimeoutMs: v.optional(int(1000, 600_000), 5000),
  /** Open connections in all, and from one client address (an IPv6 /64 is one); more are closed at once. */
  maxConnections: v.optional(int(1, 1_000_000), 1024),
  maxConnectionsPerAddress: v.optional(int(1, 1_000_000), 128),
  drainTimeoutMs: v.optional(int(0, 600_000), 5000),
  /** Async POST /api/message: accepted, unanswered messages one worker holds before answering BUSY. */
  maxPendingMessages: v.optional(int(1, 100_000), 64),
  bodyLimit: v.optional(v.union([v.pipe(v.string(), v.regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, 'must be a size such as "1mb"')), int(1)], 'must be a size such as "1mb" or a number of bytes'), '1mb'),
  cors: v.optional(v.looseObject({ origins: v.optional(v.array(nonEmptyString), []) }), {}),
  worker: v.optional(v.looseObject({
    /** Replace the worker (zero-downtime swap) once its RSS stays above this many MB. */
    maxRssMb: v.optional(v.nullable(int(32, 1_000_000)), null),
    /** Replace the worker once it has run this long (hours, fractions allowed). */
    maxAgeHours: v.optional(v.nullable(v.pipe(v.number(), v.minValue(0.0001))), null),
    /** How often the worker reports its RSS to the supervisor's memory guard. */
    memoryCheckMs: v.optional(int(100, 3_600_000), 5000),
    /** Keep a second worker loaded and waiting, promoted the moment the serving one crashes. */
    standby: v.optional(v.boolean(), false),
  }), {}),
  metrics: v.optional(v.looseObject({
    /** false: GET /metrics is not served and nothing is recorded. */
    enabled: v.optional(v.boolean(), true),
    /** true: GET /metrics needs no token (a scraper on a trusted network). */
    public: v.optional(v.boolean(), false),
  }), {}),
  /** The OpenAI-compatible /v1 API: on by default, it gives the token holder nothing /api/agent does not. */
  openai: v.optional(v.looseObject({ enabled: v.optional(v.boolean(), true) }), {}),
}),
  v.forward(v.check((gateway) => gateway.headersTimeoutMs <= gateway.requestTimeoutMs, 'must not be longer than gateway.requestTimeoutMs (the headers are part of the request)'), ['headersTimeoutMs']),
);

const agentSchema = v.looseObject({
  id: v.pipe(v.string(), v.regex(idPattern, 'must match [a-z0-9_-]{1,64}')),
  enabled: v.optional(v.boolean(), true),
  model: nullableString,
  systemPrompt: nullableString,
});

const agentsSchema = v.looseObject({
  default: v.optional(v.nullable(v.pipe(v.string(), v.regex(idPattern, 'must match [a-z0-9_-]{1,64}'))), 'main'),
  defaults: v.optional(v.looseObject({
    /** `provider/model`; unset, the default follows the provider that has a key (worker/agent/default-model.ts). */
    model: nullableString,
    /** Bound on one model call (the whole streamed answer), in ms. */
    timeoutMs: v.optional(int(1), 60_000),
    /** Model calls per turn; a turn that still wants tools after this many fails. */
    maxSteps: v.optional(int(1, 100), 8),
    /** Retries the provider SDK makes on 429/5xx/connection errors, inside timeoutMs. */
    maxRetries: v.optional(int(0, 10), 2),
    /** At least this many of the latest session messages are sent as context (whole turns). */
    contextMessages: v.optional(int(1, 10_000), 40),
    /** Longest accepted user message, in characters. */
    maxMessageChars: v.optional(int(1, 10_000_000), 100_000),
  }), {}),
  list: v.optional(v.array(agentSchema), [{ id: 'main', enabled: true, model: null, systemPrompt: null }]),
});

/** Wire protocols a provider can speak; `api` picks one for servers the model catalog does not know. */
export const PROVIDER_APIS = ['openai-completions', 'openai-responses', 'anthropic-messages', 'google-generative-ai', 'mistral-conversations'] as const;

const providerSchema = v.looseObject({
  apiKey: nullableString,
  baseUrl: v.optional(v.nullable(url), null),
  /** Default: the catalog's protocol for known providers, `openai-completions` for any other (Ollama, vLLM, LM Studio, LiteLLM). */
  api: v.optional(v.nullable(v.picklist(PROVIDER_APIS)), null),
});

/** Bounded retries with exponential backoff (delays double from minDelayMs up to maxDelayMs, with jitter). */
function retrySchema(defaults: { attempts: number; minDelayMs: number; maxDelayMs: number }) {
  return v.optional(v.looseObject({
    /** Tries in all, the first one included. */
    attempts: v.optional(int(1, 20), defaults.attempts),
    minDelayMs: v.optional(int(0, 600_000), defaults.minDelayMs),
    maxDelayMs: v.optional(int(0, 600_000), defaults.maxDelayMs),
  }), {});
}

const telegramSchema = v.pipe(
  v.looseObject({
    enabled: v.optional(v.boolean(), false),
    token: nullableString,
    /** Usernames (with or without @) or numeric user/chat ids; empty lets everyone in (a warning is logged). */
    allowFrom: v.optional(v.array(v.union([nonEmptyString, v.pipe(v.number(), v.integer())], 'must be a username or a numeric id')), []),
    apiRoot: v.optional(v.nullable(url), null),
    mode: v.optional(v.picklist(['polling', 'webhook']), 'polling'),
    /** Telegram's secret_token: 1-256 of [A-Za-z0-9_-], checked against X-Telegram-Bot-Api-Secret-Token. */
    webhookSecret: v.optional(v.nullable(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 characters of [A-Za-z0-9_-]'))), null),
    /** Public URL of /api/webhook/telegram; when set, the gateway registers it with setWebhook. */
    webhookUrl: v.optional(v.nullable(url), null),
    /** Long-poll timeout passed to getUpdates. */
    pollTimeoutSeconds: v.optional(int(0, 50), 25),
    /** Least time between two getUpdates calls when the last one brought nothing (servers that do not long-poll). */
    pollIntervalMs: v.optional(int(0, 60_000), 200),
    sendRetry: retrySchema({ attempts: 3, minDelayMs: 500, maxDelayMs: 5000 }),
  }),
  v.forward(v.check((telegram) => !telegram.enabled || Boolean(telegram.token), 'required when channels.telegram.enabled is true'), ['token']),
  v.forward(
    v.check((telegram) => !telegram.enabled || telegram.mode !== 'webhook' || Boolean(telegram.webhookSecret), 'required when channels.telegram.mode is "webhook" (it authenticates Telegram\'s calls)'),
    ['webhookSecret'],
  ),
);

const webhookChannelSchema = v.pipe(
  v.looseObject({
    enabled: v.optional(v.boolean(), false),
    /** HMAC-SHA256 key for inbound signatures and signed replies; `whsec_<base64>` is read as Standard Webhooks secrets are. */
    secret: v.optional(v.nullable(v.pipe(nonEmptyString, v.check((secret) => !secret.startsWith('whsec_') || /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret), 'a "whsec_" secret must be base64 after the prefix'))), null),
    /** Also accept (and send) the body-only `X-Xopc-Signature`, which has no delivery id or time and so no replay protection. */
    legacySignature: v.optional(v.boolean(), false),
    /** Where replies are POSTed; without it replies stay in the session. */
    replyUrl: v.optional(v.nullable(url), null),
    /** One reply POST may take this long before it counts as failed. */
    replyTimeoutMs: v.optional(int(100, 300_000), 10_000),
    replyRetry: retrySchema({ attempts: 5, minDelayMs: 1000, maxDelayMs: 30_000 }),
  }),
  v.forward(v.check((webhook) => !webhook.enabled || Boolean(webhook.secret), 'required when channels.webhook.enabled is true (it signs and verifies webhooks)'), ['secret']),
);

const channelsSchema = v.looseObject({
  telegram: v.optional(telegramSchema, {}),
  webhook: v.optional(webhookChannelSchema, {}),
});

const loggingSchema = v.looseObject({
  level: v.optional(v.picklist(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'),
  file: nullableString,
  maxSizeBytes: v.optional(int(1024), 10 * 1024 * 1024),
  maxFiles: v.optional(int(1, 100), 5),
});

const schema = v.looseObject({
  gateway: v.optional(gatewaySchema, {}),
  agents: v.optional(agentsSchema, {}),
  providers: v.optional(v.record(v.string(), providerSchema), {}),
  channels: v.optional(channelsSchema, {}),
  logging: v.optional(loggingSchema, {}),
});

export type Config = v.InferOutput<typeof schema>;

/** The config schema itself, for code that walks its keys (`xopc config`); validate with parseConfig or configIssues. */
export const CONFIG_SCHEMA = schema;

/** Whether the value at this dotted key is a secret: masked wherever the CLI prints it, never quoted in messages. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** One thing wrong with a config: the dotted key (`(root)` for the whole) and the schema's message. */
export interface ConfigIssue {
  key: string;
  message: string;
}

/** Every problem the schema finds in a config object (none: it is valid); secrets' values are not quoted. */
export function configIssues(input: unknown): ConfigIssue[] {
  const result = v.safeParse(schema, input);
  if (result.success) return [];
  return result.issues.map((issue) => {
    // Written as `xopc config` takes keys: a provider named `ollama.lan` is providers["ollama.lan"].
    const key = issue.path?.length ? joinKey(issue.path.map((item) => String(item.key))) : '(root)';
    // valibot's messages quote the value they received; a secret's value must not reach the terminal or the log.
    const message = isSecretKey(key) ? issue.message.replace(/(:| but) received .*$/i, '') : issue.message;
    return { key, message };
  });
}

/**
 * Validates a config object: fills in defaults, keeps unknown keys, fails with a ConfigError
 * naming the first invalid key, or the flag or variable its value came from (`origins`,
 * by dotted key) when it did not come from the file.
 */
export function parseConfig(input: unknown, source = 'config', origins: Record<string, string> = {}): Config {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const { key, message } = configIssues(input)[0]!;
  const origin = Object.hasOwn(origins, key) ? origins[key] : undefined;
  throw new ConfigError(origin ? `Invalid ${origin} (${key}): ${message}` : `Invalid ${source}: ${key}: ${message}`);
}

/**
 * Keys a running gateway cannot change: what the supervisor itself holds from its start, the
 * listening socket and the log file (a restart keeps both). A change waits for a full stop and start.
 */
export const RESTART_ONLY_KEYS = ['gateway.host', 'gateway.port', 'logging.file', 'logging.maxSizeBytes', 'logging.maxFiles'] as const;

/** Environment variables that beat the file's value at a key (the product document's precedence: flag > env > file). */
export const ENV_OVERRIDES: readonly { key: string; variable: string }[] = [
  { key: 'gateway.auth.token', variable: 'XOPC_GATEWAY_TOKEN' },
  { key: 'providers.openai.apiKey', variable: 'OPENAI_API_KEY' },
  { key: 'providers.anthropic.apiKey', variable: 'ANTHROPIC_API_KEY' },
];

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
  // Where a value that did not come from the file came from, for error messages.
  const origins: Record<string, string> = {};
  const set = (keys: string[], value: unknown, origin: string) => {
    setPath(merged, keys, value);
    origins[keys.join('.')] = origin;
  };

  // Environment beats the file.
  for (const { key, variable } of ENV_OVERRIDES) {
    if (env[variable]) set(key.split('.'), env[variable], variable);
  }
  if (env.XOPC_GATEWAY_TOKEN) tokenSource = 'env';
  // Flags beat the environment.
  if (flags.port !== undefined) set(['gateway', 'port'], flags.port, '--port');
  if (flags.host !== undefined) set(['gateway', 'host'], flags.host, '--host');
  if (flags.token !== undefined) {
    set(['gateway', 'auth', 'token'], flags.token, '--token');
    tokenSource = 'flag';
  }

  return { path, config: parseConfig(merged, `config ${path}`, origins), raw, tokenSource };
}

/**
 * A new gateway token: 32 random bytes, base64url (43 characters), never starting with
 * `-`, which a command line would read as a flag (`--token -x...`, `Authorization` pasted
 * into a shell). Drawing again keeps every token equally likely among the rest.
 */
export function generateToken(): string {
  for (;;) {
    const token = randomBytes(32).toString('base64url');
    if (!token.startsWith('-')) return token;
  }
}

/**
 * Makes sure the gateway has a token: when none is configured anywhere, generates
 * one (32 random bytes, base64url) and stores it in the config file (0600, atomic).
 */
export function ensureToken(loaded: LoadedConfig): LoadedConfig {
  if (loaded.config.gateway.auth.token) return loaded;
  const token = generateToken();
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

/**
 * Masks a token for display: never more than a quarter of it shows (an eighth from each
 * end, at most 4 characters each), so a shoulder-surfer or a pasted `status` cannot
 * narrow it down to a guessable rest.
 */
export function maskToken(token: string | null | undefined): string {
  if (!token) return '(none)';
  const shown = Math.min(4, Math.floor(token.length / 8));
  if (shown === 0) return '...';
  return `${token.slice(0, shown)}...${token.slice(-shown)}`;
}

function isAddressOrCidr(value: string): boolean {
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The config file's JSON object as written ({} when there is none or it is empty); a ConfigError when it cannot be read or parsed. */
export function readRawConfig(path: string): Record<string, unknown> {
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
