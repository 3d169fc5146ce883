import Router from '@koa/router';
import { apiError } from '../http/errors.js';
import type { ChannelRegistry } from '../channels/types.js';

/**
 * `POST /api/webhook/:channel`: handed to the channel, which authenticates the call
 * itself (the app's bearer auth leaves this path open). Unknown channels, and
 * channels that take no webhooks, are CHANNEL_NOT_FOUND.
 */
export function createWebhookRouter(channels: ChannelRegistry): Router {
  const router = new Router();

  router.post('/api/webhook/:channel', async (ctx) => {
    const name = ctx.params.channel ?? '';
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

  return router;
}
