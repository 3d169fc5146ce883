import type { AgentTool } from '../agent/tool-registry.js';
import { ApiError } from '../http/errors.js';
import type { ChannelRegistry } from './types.js';

/**
 * The agent's `send_message` tool: delivers text to a chat of an enabled channel, so an
 * agent (a cron job's, or one asked to "tell my Telegram when...") can notify someone.
 * Delivery failures come back to the model as error results, never as thrown turns.
 */
export function createSendMessageTool(channels: ChannelRegistry): AgentTool {
  const names = channels.list().map((channel) => channel.name);
  return {
    name: 'send_message',
    description: 'Send a text message to a chat on one of the enabled channels (' + names.join(', ') + '). '
      + 'Use it to notify a chat other than this conversation; your normal reply already reaches the current chat.',
    parameters: {
      type: 'object',
      properties: {
        channel: { type: 'string', enum: names, description: 'The channel to send through.' },
        chat_id: { type: 'string', description: 'The chat on that channel: a Telegram chat id such as "123456789" or "-1001234567890", a webhook chat id, a webchat session id.' },
        text: { type: 'string', description: 'The message text.' },
      },
      required: ['channel', 'chat_id', 'text'],
      additionalProperties: false,
    },
    async execute(args, context) {
      const channel = String(args.channel ?? '');
      const chatId = String(args.chat_id ?? '');
      const text = String(args.text ?? '');
      if (!text.trim()) return { text: 'text must not be empty', isError: true };
      // The current chat's session is busy with this very turn: appending to it would wait for ourselves.
      if (channels.get(channel)?.repliesInSession && channel === context.channel && chatId === context.peerId) {
        return { text: 'That is this conversation: put the message in your reply instead.', isError: true };
      }
      try {
        await channels.send(channel, chatId, text);
      } catch (err) {
        if (err instanceof ApiError) return { text: `${err.code}: ${err.message}`, isError: true };
        throw err;
      }
      return `Message sent to ${channel} chat ${chatId}.`;
    },
  };
}
