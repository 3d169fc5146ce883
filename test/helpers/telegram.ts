import { TelegramServer, type StoredBotUpdate } from 'telegram-test-api/lib/telegramServer.js';
import { freePort } from './net.js';

/**
 * A real Telegram Bot API emulator (`telegram-test-api`) on 127.0.0.1 and a free port.
 * The bot side is what the gateway talks to (`apiRoot`); the user side is driven here:
 * `say` posts a user's message, `botMessages` / `waitForBotMessages` read what the bot sent.
 *
 * The emulator's getUpdates ignores `offset` and returns at once (no long polling): an
 * update is marked read as soon as one getUpdates returned it.
 */

export const BOT_TOKEN = '123456:test-bot-token';

export interface TelegramUser {
  userId: number;
  userName: string;
  /** Default: the user's id (a private chat). */
  chatId?: number;
  type?: 'private' | 'group' | 'supergroup';
}

export interface TelegramEmulator {
  server: TelegramServer;
  /** What `channels.telegram.apiRoot` is set to. */
  apiRoot: string;
  port: number;
  token: string;
  /** A user's text message, queued for the bot's next getUpdates. */
  say(user: TelegramUser, text: string): Promise<void>;
  /** Everything the bot sent, oldest first, optionally for one chat. */
  botMessages(chatId?: number | string): Array<{ chatId: string; text: string }>;
  /** Resolves once `count` bot messages (for `chatId`, if given) exist. */
  waitForBotMessages(count: number, options?: { chatId?: number | string; timeoutMs?: number }): Promise<Array<{ chatId: string; text: string }>>;
  /** User updates not fetched by the bot yet. */
  unreadUpdates(): number;
  stop(): Promise<void>;
}

const START_TRIES = 5;

export async function startTelegramEmulator(token = BOT_TOKEN): Promise<TelegramEmulator> {
  let server: TelegramServer | undefined;
  let port = 0;
  for (let attempt = 1; !server; attempt++) {
    port = await freePort();
    // Keep messages for the whole test run (the default drops them after 60 s).
    const candidate = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 3600 });
    try {
      await candidate.start();
      server = candidate;
    } catch (err) {
      // Someone took the port between freePort() and listen(): pick another.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= START_TRIES) throw err;
    }
  }
  const running = server;
  // The emulator emits one event per bot message; tests wait on several at a time.
  running.setMaxListeners(100);

  const botMessages = (chatId?: number | string) => running.storage.botMessages
    .filter((update: StoredBotUpdate) => update.botToken === token)
    .map((update: StoredBotUpdate) => ({ chatId: String(update.message.chat_id), text: String(update.message.text) }))
    .filter((message) => chatId === undefined || message.chatId === String(chatId));

  return {
    server: running,
    apiRoot: `http://127.0.0.1:${port}`,
    port,
    token,
    async say(user, text) {
      const client = running.getClient(token, { userId: user.userId, userName: user.userName, chatId: user.chatId ?? user.userId, type: user.type ?? 'private', firstName: user.userName });
      await client.sendMessage(client.makeMessage(text));
    },
    botMessages,
    waitForBotMessages(count, { chatId, timeoutMs = 10_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const messages = botMessages(chatId);
          if (messages.length < count) return false;
          cleanup();
          resolve(messages);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count} bot messages${chatId === undefined ? '' : ` in chat ${chatId}`}; got ${JSON.stringify(botMessages(chatId))}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          running.off('AddedBotMessage', check);
        };
        running.on('AddedBotMessage', check);
        check();
      });
    },
    unreadUpdates: () => running.storage.userMessages.filter((update) => update.botToken === token && !update.isRead).length,
    async stop() {
      await running.stop();
    },
  };
}
