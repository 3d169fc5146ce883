import type { Update } from 'grammy/types';
import type { InboundMessage } from '../types.js';

export const TELEGRAM_CHANNEL = 'telegram';

/** What an update means to the gateway: a text message to answer, or a reason to ignore it. */
export type UpdateVerdict =
  | { kind: 'message'; message: InboundMessage }
  | { kind: 'ignored'; reason: 'not-text' | 'not-allowed'; chatId?: string; sender?: string };

/**
 * `channels.telegram.allowFrom`: usernames (with or without @, any case) or numeric ids.
 * An id matches the sender's user id or the chat's id (a whole group can be allowed).
 * An empty list, or "*", lets everyone in.
 */
export function createAllowList(entries: Array<string | number>): (message: { fromId?: number; username?: string; chatId: number }) => boolean {
  const ids = new Set<string>();
  const names = new Set<string>();
  let everyone = entries.length === 0;
  for (const entry of entries) {
    const text = String(entry).trim();
    if (text === '*') everyone = true;
    else if (/^-?\d+$/.test(text)) ids.add(text);
    else names.add(text.replace(/^@/, '').toLowerCase());
  }
  return ({ fromId, username, chatId }) =>
    everyone
    || (fromId !== undefined && ids.has(String(fromId)))
    || ids.has(String(chatId))
    || (username !== undefined && names.has(username.toLowerCase()));
}

/** Reads an update: text messages (private chats and groups alike, each chat its own session) from allowed senders. */
export function readUpdate(update: Update, allowed: ReturnType<typeof createAllowList>): UpdateVerdict {
  const message = update.message;
  // Shapes are checked, not trusted: webhook bodies come from the network.
  if (!message || typeof message.text !== 'string' || message.text.trim() === '' || !Number.isSafeInteger(message.chat?.id)) return { kind: 'ignored', reason: 'not-text' };
  const chatId = String(message.chat.id);
  const username = message.from?.username;
  const sender = username ? `@${username}` : message.from ? String(message.from.id) : undefined;
  if (!allowed({ fromId: message.from?.id, username, chatId: message.chat.id })) return { kind: 'ignored', reason: 'not-allowed', chatId, sender };
  return {
    kind: 'message',
    message: { channel: TELEGRAM_CHANNEL, chatId, content: message.text, ...(sender ? { sender } : {}), externalId: String(update.update_id) },
  };
}
