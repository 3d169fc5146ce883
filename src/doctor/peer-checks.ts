import type { Config } from '../config.js';
import { chooseModel } from '../../worker/agent/default-model.js';
import { result, type CheckResult, type DoctorContext } from './types.js';

// Each call to a peer (model provider, Telegram, webhook receiver) gets this long.
const PEER_TIMEOUT_MS = 5000;

// Where providers that need no `baseUrl` are reached, and how their key is sent.
const KNOWN_PROVIDERS: Record<string, { baseUrl: string; envKey: string; style: 'bearer' | 'anthropic' }> = {
  openai: { baseUrl: 'https://api.openai.com/v1', envKey: 'OPENAI_API_KEY', style: 'bearer' },
  anthropic: { baseUrl: 'https://api.anthropic.com/v1', envKey: 'ANTHROPIC_API_KEY', style: 'anthropic' },
};

/**
 * `provider.<name>`: for each provider an enabled agent uses, the server answers and
 * accepts the key, by listing its models (free, and every OpenAI-compatible server has it).
 */
export async function checkProviders(ctx: DoctorContext): Promise<CheckResult[]> {
  if (!ctx.loaded) return [result('provider', 'skip', 'the config is invalid')];
  const { config } = ctx.loaded;
  const env = ctx.env;
  const used = new Map<string, Set<string>>();
  for (const agent of config.agents.list) {
    if (!agent.enabled) continue;
    const choice = chooseModel(config, agent.id, env);
    const ref = choice.ref ?? (choice.provider ? `${choice.provider}/` : null);
    if (!ref) continue;
    const slash = ref.indexOf('/');
    const provider = slash > 0 ? ref.slice(0, slash) : ref;
    if (!used.has(provider)) used.set(provider, new Set());
    used.get(provider)!.add(ref.slice(slash + 1));
  }
  if (used.size === 0) return [result('provider', 'skip', 'no agent is enabled')];
  return Promise.all([...used].map(([provider, models]) => checkProvider(config, provider, [...models])));
}

async function checkProvider(config: Config, provider: string, models: string[]): Promise<CheckResult> {
  const id = `provider.${provider}`;
  const settings = config.providers[provider];
  const known = KNOWN_PROVIDERS[provider];
  const baseUrl = (settings?.baseUrl ?? known?.baseUrl)?.replace(/\/+$/, '');
  if (!baseUrl) {
    return result(id, 'skip', `provider '${provider}' has no baseUrl doctor knows how to reach; not checked`, { fix: `Set providers.${provider}.baseUrl if it is an OpenAI-compatible server` });
  }
  // loadConfig already put OPENAI_API_KEY / ANTHROPIC_API_KEY into providers.<name>.apiKey.
  const apiKey = settings?.apiKey ?? null;
  if (!apiKey && known) {
    return result(id, 'fail', `no API key for '${provider}'`, { fix: `Set providers.${provider}.apiKey or ${known.envKey}` });
  }
  const headers: Record<string, string> = {};
  if (apiKey && known?.style === 'anthropic') Object.assign(headers, { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01' });
  else if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const url = `${baseUrl}/models`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(PEER_TIMEOUT_MS) });
  } catch (err) {
    return result(id, 'fail', `${url} is unreachable: ${describeFetchError(err)}`, { fix: `Check providers.${provider}.baseUrl and that the server runs` });
  }
  if (res.status === 401 || res.status === 403) {
    return result(id, 'fail', `${url} refused the API key (HTTP ${res.status})`, { fix: `Set a valid providers.${provider}.apiKey${known ? ` or ${known.envKey}` : ''}` });
  }
  if (!res.ok) return result(id, 'warn', `${url} answered HTTP ${res.status}: the server is reachable, the key could not be verified`);
  const listed = await res.json().then(
    (body: unknown) => ((body as { data?: Array<{ id?: unknown }> })?.data ?? []).map((entry) => String(entry.id)),
    () => [] as string[],
  );
  const missing = listed.length > 0 ? models.filter((model) => !listed.includes(model)) : [];
  if (missing.length > 0) return result(id, 'warn', `${url} accepted the key but does not list ${missing.join(', ')}`, { fix: 'Check the model names in agents.defaults.model / agents.list[].model' });
  return result(id, 'ok', `${baseUrl} answers and accepts the key${listed.length > 0 ? ` (${listed.length} models)` : ''}`);
}

/**
 * `telegram.token` and `telegram.webhook`: the bot token is accepted (getMe), and in
 * polling mode no webhook is set that would block getUpdates.
 */
export async function checkTelegram(ctx: DoctorContext): Promise<CheckResult[]> {
  if (!ctx.loaded) return [result('telegram.token', 'skip', 'the config is invalid')];
  const telegram = ctx.loaded.config.channels.telegram;
  if (!telegram.enabled || !telegram.token) return [result('telegram.token', 'skip', 'channels.telegram is not enabled')];
  const root = (telegram.apiRoot ?? 'https://api.telegram.org').replace(/\/+$/, '');
  const call = async (method: string) => {
    const res = await fetch(`${root}/bot${telegram.token}/${method}`, { method: 'POST', signal: AbortSignal.timeout(PEER_TIMEOUT_MS) });
    const body = (await res.json().catch(() => ({}))) as { ok?: boolean; result?: Record<string, unknown>; description?: string; error_code?: number };
    return { status: res.status, body };
  };
  let me: Awaited<ReturnType<typeof call>>;
  try {
    me = await call('getMe');
  } catch (err) {
    return [result('telegram.token', 'fail', `${root} is unreachable: ${describeFetchError(err)}`, { fix: 'Check the network (or channels.telegram.apiRoot)' })];
  }
  if (me.status === 401 || me.status === 404 || !me.body.ok) {
    return [result('telegram.token', 'fail', `Telegram refused the bot token (HTTP ${me.status}${me.body.description ? `: ${me.body.description}` : ''})`, { fix: 'Set channels.telegram.token to the token @BotFather gave you' })];
  }
  const checks = [result('telegram.token', 'ok', `bot @${String(me.body.result?.username ?? '?')} (id ${String(me.body.result?.id ?? '?')})`)];
  const info = await call('getWebhookInfo').catch(() => null);
  if (!info?.body.ok) {
    checks.push(result('telegram.webhook', 'skip', `could not read the webhook (getWebhookInfo: ${info ? (info.body.description ?? `HTTP ${info.status}`) : 'unreachable'})`));
    return checks;
  }
  const url = String(info.body.result?.url ?? '');
  if (telegram.mode === 'polling') {
    checks.push(url
      ? result('telegram.webhook', 'warn', `a webhook is set (${url}): it blocks polling; the gateway deletes it when it polls, which cuts off whatever set it`, { fix: 'If another deployment uses this bot by webhook, give this gateway its own bot token' })
      : result('telegram.webhook', 'ok', 'no webhook set: polling works'));
  } else {
    const expected = telegram.webhookUrl;
    checks.push(expected && url !== expected
      ? result('telegram.webhook', 'warn', `the webhook is ${url || 'not set'}, not ${expected}; the gateway sets it at start`)
      : result('telegram.webhook', 'ok', url ? `webhook set to ${url}` : 'webhook mode without webhookUrl: set it yourself with setWebhook'));
  }
  return checks;
}

/** `webhook.reply-url`: the server replies are POSTed to answers (any HTTP status counts). */
export async function checkWebhookReplyUrl(ctx: DoctorContext): Promise<CheckResult> {
  if (!ctx.loaded) return result('webhook.reply-url', 'skip', 'the config is invalid');
  const webhook = ctx.loaded.config.channels.webhook;
  if (!webhook.enabled || !webhook.replyUrl) return result('webhook.reply-url', 'skip', 'channels.webhook is not enabled or has no replyUrl');
  try {
    // HEAD: answered by any server, delivers nothing.
    const res = await fetch(webhook.replyUrl, { method: 'HEAD', signal: AbortSignal.timeout(PEER_TIMEOUT_MS) });
    return result('webhook.reply-url', 'ok', `${webhook.replyUrl} answers (HTTP ${res.status} to HEAD)`);
  } catch (err) {
    return result('webhook.reply-url', 'fail', `${webhook.replyUrl} does not answer: ${describeFetchError(err)}`, { fix: 'Start the receiver or fix channels.webhook.replyUrl; replies are retried, then dropped' });
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if ((err as Error)?.name === 'TimeoutError') return `no answer within ${PEER_TIMEOUT_MS / 1000} s`;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}
