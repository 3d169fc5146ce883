import * as v from 'valibot';
import { webhookInboundSchema } from '../channels/webhook/inbound-schema.js';
import type { ChannelRegistry } from '../channels/types.js';
import { apiError } from '../http/errors.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';

/**
 * `POST /api/webhook/:channel`: handed to the channel, which authenticates the call
 * itself (the app's bearer auth leaves this path open). Unknown channels, and
 * channels that take no webhooks, are CHANNEL_NOT_FOUND.
 */
export function createWebhookRouter(channels: ChannelRegistry): Routes {
  const webhook = route({
    operationId: 'channelWebhook',
    method: 'POST',
    path: '/api/webhook/:channel',
    tag: 'channels',
    summary: 'Inbound call of a channel: a Telegram update (webhook mode), or a signed message for the generic webhook channel',
    description: 'Authenticated by the channel: `X-Telegram-Bot-Api-Secret-Token` for telegram, `X-Xopc-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` for webhook; a bad one is 401 UNAUTHORIZED.',
    auth: 'channel',
    params: v.object({ channel: v.pipe(v.string(), v.description('telegram or webhook')) }),
    documentedBody: v.union([webhookInboundSchema, v.pipe(v.looseObject({ update_id: v.number() }), v.description('A Telegram update'))]),
    headers: [
      { name: 'X-Xopc-Signature', description: 'webhook channel: sha256=<hex HMAC-SHA256(secret, raw body)>', schema: v.string() },
      { name: 'X-Telegram-Bot-Api-Secret-Token', description: 'telegram channel in webhook mode: channels.telegram.webhookSecret', schema: v.string() },
    ],
    responses: {
      200: { description: 'telegram: the update was taken', schema: v.object({ ok: v.literal(true) }) },
      202: { description: 'webhook: accepted; the reply is POSTed to channels.webhook.replyUrl', schema: v.object({ status: v.literal('ok'), message_id: v.string() }) },
    },
    errors: ['UNAUTHORIZED', 'CHANNEL_NOT_FOUND', 'INVALID_REQUEST'],
    example: { params: { channel: 'webhook' }, body: { event: 'message', data: { chat_id: 'contract', content: 'Hello from a webhook' } } },
  }, async (ctx, { params }) => {
    const name = params.channel;
    const channel = channels.get(name);
    if (!channel?.handleWebhook) {
      throw apiError('CHANNEL_NOT_FOUND', channel ? `Channel "${name}" takes no webhooks` : `Channel "${name.slice(0, 80)}" is not configured or not enabled`);
    }
    const headers: Record<string, string | undefined> = {};
    for (const [header, value] of Object.entries(ctx.headers)) headers[header] = Array.isArray(value) ? value[0] : value;
    // koa-bodyparser keeps the exact JSON text it parsed; signatures are checked over it.
    const raw = ctx.request.rawBody;
    const result = await channel.handleWebhook({ headers, rawBody: typeof raw === 'string' ? raw : '', body: ctx.request.body });
    ctx.status = result.status;
    ctx.body = result.body;
  });
  return routeGroup([webhook]);
}
