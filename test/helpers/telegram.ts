import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TelegramServer, type StoredBotUpdate } from 'telegram-test-api/lib/telegramServer.js';
import { freePort } from './net.js';

/**
 * A real Telegram Bot API emulator (`telegram-test-api`) on 127.0.0.1 and a free port.
 * The bot side is what the gateway talks to (`apiRoot`); the user side is driven here:
 * `say` posts a user's message, `botMessages` / `waitForBotMessages` read what the bot sent.
 *
 * The emulator's getUpdates ignores `offset` and returns at once (no long polling): an
 * update is marked read as soon as one getUpdates returned it. With `longPolling`, the
 * bot talks to a front that adds what real Telegram does there (and the emulator lacks):
 * getUpdates waits up to `timeout` seconds for updates, keeps every update until an
 * `offset` above it confirms it, answers 409 Conflict to a getUpdates that a newer
 * one overtook (two pollers at once), 401 to any other bot token, and getWebhookInfo.
 * Every other method goes to the emulator as is.
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
  /** With `longPolling`: how many getUpdates calls were answered 409 because another one overtook them. */
  conflicts(): number;
  stop(): Promise<void>;
}

const START_TRIES = 5;

/** `port`: a fixed port (to bring an emulator back where a stopped one was); default a free one. */
export async function startTelegramEmulator(options: { token?: string; longPolling?: boolean; port?: number } = {}): Promise<TelegramEmulator> {
  const token = options.token ?? BOT_TOKEN;
  let server: TelegramServer | undefined;
  let port = 0;
  for (let attempt = 1; !server; attempt++) {
    port = options.port ?? await freePort();
    // Keep messages for the whole test run (the default drops them after 60 s).
    const candidate = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 3600 });
    try {
      await candidate.start();
      server = candidate;
    } catch (err) {
      // Someone took the port between freePort() and listen(): pick another.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.port || attempt >= START_TRIES) throw err;
    }
  }
  const running = server;
  // The emulator emits one event per bot message; tests wait on several at a time.
  running.setMaxListeners(100);

  const botMessages = (chatId?: number | string) => running.storage.botMessages
    .filter((update: StoredBotUpdate) => update.botToken === token)
    .map((update: StoredBotUpdate) => ({ chatId: String(update.message.chat_id), text: String(update.message.text) }))
    .filter((message) => chatId === undefined || message.chatId === String(chatId));

  const front = options.longPolling ? await startLongPollingFront(running, token, `http://127.0.0.1:${port}`) : null;

  return {
    server: running,
    apiRoot: front?.url ?? `http://127.0.0.1:${port}`,
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
    conflicts: () => front?.conflicts() ?? 0,
    async stop() {
      await front?.close();
      await running.stop();
    },
  };
}

/** Telegram's getUpdates semantics in front of the emulator (see the top of this file). */
async function startLongPollingFront(emulator: TelegramServer, token: string, emulatorUrl: string) {
  // Fetched from the emulator, not yet confirmed by an offset above them.
  let buffer: Array<{ update_id: number }> = [];
  let conflicts = 0;
  let held: { answer(status: number, body: unknown): void } | null = null;
  const pull = () => {
    buffer.push(...(emulator.getUpdates(token) as Array<{ update_id: number }>));
  };

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const [, botToken, method] = /^\/bot([^/]+)\/([^/?]+)/.exec(req.url ?? '') ?? [];
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    // As Telegram: a token it does not know is 401; the webhook set with setWebhook is readable.
    if (botToken !== token) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    if (method === 'getWebhookInfo') {
      const webhook = (emulator as unknown as { webhooks: Record<string, { url?: string } | undefined> }).webhooks[token];
      return reply(200, { ok: true, result: { url: webhook?.url ?? '', has_custom_certificate: false, pending_update_count: 0 } });
    }
    if (!req.url?.endsWith('/getUpdates')) {
      const forwarded = await fetch(emulatorUrl + req.url, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, ...(raw ? { body: raw } : {}) });
      res.writeHead(forwarded.status, { 'content-type': 'application/json' });
      res.end(await forwarded.text());
      return;
    }
    const params = (raw ? JSON.parse(raw) : {}) as { offset?: number; timeout?: number };
    buffer = buffer.filter((update) => update.update_id >= (params.offset ?? 0));
    let answered = false;
    const answer = (status: number, body: unknown) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      emulator.off('AddedUserMessage', onUpdate);
      if (held?.answer === answer) held = null;
      if (!res.destroyed) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      }
    };
    const onUpdate = () => {
      pull();
      if (buffer.length > 0) answer(200, { ok: true, result: buffer });
    };
    // A newer getUpdates ends the one still waiting, as Telegram does.
    if (held) {
      conflicts += 1;
      held.answer(409, { ok: false, error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
    }
    const timer = setTimeout(() => answer(200, { ok: true, result: buffer }), (params.timeout ?? 0) * 1000);
    held = { answer };
    // The poller went away (aborted its long poll): nothing to answer, nothing lost.
    res.on('close', () => answer(0, null));
    emulator.on('AddedUserMessage', onUpdate);
    onUpdate();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    conflicts: () => conflicts,
    async close() {
      held?.answer(200, { ok: true, result: [] });
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
