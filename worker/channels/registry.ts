import type { Logger } from '../../src/logger.js';
import { ApiError, apiError } from '../http/errors.js';
import type { Channel, ChannelRegistry } from './types.js';

/**
 * The enabled channels by name. `send` turns a missing channel into CHANNEL_NOT_FOUND and
 * any non-API failure into CHANNEL_ERROR, so callers (routes, cron, the agent's tool)
 * only ever see registered error codes. A channel that fails to start or stop is logged
 * and does not keep the others from running: channel failures never crash the worker.
 */
export function createChannelRegistry(channels: Channel[], logger: Logger): ChannelRegistry {
  const byName = new Map(channels.map((channel) => [channel.name, channel]));

  return {
    get: (name) => byName.get(name),
    list: () => [...byName.values()],

    async send(name, chatId, text, options) {
      const channel = byName.get(name);
      if (!channel) throw apiError('CHANNEL_NOT_FOUND', `Channel "${clip(name)}" is not configured or not enabled`);
      try {
        await channel.send(chatId, text, options);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw apiError('CHANNEL_ERROR', `Delivery to ${name} chat ${clip(chatId)} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
    },

    async start() {
      await each((channel) => channel.start(), 'channel failed to start; it stays stopped until the next restart');
    },

    async stop() {
      await each((channel) => channel.stop(), 'channel failed to stop cleanly');
    },

    async close() {
      await each((channel) => (channel.close ? channel.close() : channel.stop()), 'channel failed to close cleanly');
    },
  };

  async function each(action: (channel: Channel) => Promise<void>, failure: string): Promise<void> {
    await Promise.all([...byName.values()].map(async (channel) => {
      try {
        await action(channel);
      } catch (err) {
        logger.error({ err, channel: channel.name }, failure);
      }
    }));
  }
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
