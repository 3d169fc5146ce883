import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { join } from 'node:path';
import { Api } from 'grammy';
import type { Update } from 'grammy/types';
import type { Config } from '../../../src/config.js';
import type { Logger } from '../../../src/logger.js';
import { apiError } from '../../http/errors.js';
import { createKeyedQueue } from '../../sessions/session-queue.js';
import { withRetry } from '../retry.js';
import { splitText } from '../split-text.js';
import type { Channel, InboundAcceptor, InboundHandler, InboundMessage } from '../types.js';
import { classifyTelegramError, describeTelegramError, grammySignal } from './telegram-errors.js';
import { startPoller, type Poller } from './telegram-poller.js';
import { createAllowList, readUpdate, TELEGRAM_CHANNEL } from './telegram-updates.js';
import { openUpdateJournal, type UpdateJournal } from './update-journal.js';

export type TelegramConfig = Config['channels']['telegram'];

export interface TelegramChannelOptions {
  config: TelegramConfig;
  /** The journal lives in `<stateDir>/channels/`. */
  stateDir: string;
  logger: Logger;
  /** Long polling: answers an update (the channel's journal makes it durable). */
  onInbound: InboundHandler;
  /** Webhook mode: writes an update's message down before Telegram is answered, and answers it in the background. */
  accept: InboundAcceptor;
}

// One sendMessage may take this long before it counts as a (retryable) network failure.
const SEND_TIMEOUT_MS = 30_000;
// Polling pauses while this many fetched updates are still being answered.
const MAX_OUTSTANDING = 100;
// How long `stop` lets turns already running finish before handing their updates over
// (under the supervisor's 10 s bound for stopping background services).
const STOP_WAIT_MS = 7000;
// How long `close` lets polled turns finish before the worker exits.
const CLOSE_WAIT_MS = 3000;
// Webhook mode: Telegram redelivers an update it got no 2xx for; these ids are remembered.
const RECENT_UPDATE_IDS = 1000;
const FAILURE_NOTICE = 'Sorry, I could not answer that just now. Please try again in a moment.';

/**
 * The Telegram channel on grammY's Api. Long polling (the default) runs only between
 * `start` and `stop`; updates are journaled (update-journal.ts) so that the next owner
 * resumes where this one left off. In webhook mode Telegram POSTs updates to
 * /api/webhook/telegram, authenticated by X-Telegram-Bot-Api-Secret-Token; each message
 * is written down with the gateway's accepted messages before Telegram gets its 200, so
 * this worker or the next one answers it.
 * Each chat (private or group) is its own session and is answered in order.
 */
export function createTelegramChannel(options: TelegramChannelOptions): Channel {
  const { config, onInbound, accept } = options;
  const logger = options.logger.child({ channel: TELEGRAM_CHANNEL });
  const token = config.token ?? '';
  const api = new Api(token, config.apiRoot ? { apiRoot: config.apiRoot.replace(/\/+$/, '') } : undefined);
  const allowed = createAllowList(config.allowFrom);
  const journalFile = join(options.stateDir, 'channels', `telegram-${botFileId(token)}.json`);
  const describe = (err: unknown) => describeTelegramError(err, token);
  const chats = createKeyedQueue();
  const settled = new EventEmitter();
  const recentIds: number[] = [];
  const expectedSecret = config.webhookSecret ? digest(config.webhookSecret) : null;

  // Polling ownership (SPEC 3): `accepting` lets polled turns start, `owning` lets their
  // replies go out and the journal be written. stop() clears the first at once and the
  // second once running turns finished or STOP_WAIT_MS passed.
  let accepting = false;
  let owning = false;
  let journal: UpdateJournal | null = null;
  let poller: Poller | null = null;
  let webhookSetup: AbortController | null = null;
  let outstanding = { polled: 0, all: 0 };
  let lifecycle = Promise.resolve();

  if (config.allowFrom.length === 0) logger.warn('channels.telegram.allowFrom is empty: anyone who finds the bot can talk to the agent');

  function dispatch(update: Update, polled: boolean): void {
    const verdict = readUpdate(update, allowed);
    if (verdict.kind === 'ignored') {
      if (verdict.reason === 'not-allowed') {
        logger.info({ updateId: update.update_id, chatId: verdict.chatId, sender: verdict.sender }, 'ignored a Telegram message from a sender not in channels.telegram.allowFrom');
      }
      if (polled) journal?.done(update.update_id);
      return;
    }
    outstanding = { polled: outstanding.polled + (polled ? 1 : 0), all: outstanding.all + 1 };
    const current = journal;
    void chats.run(verdict.message.chatId, () => answer(update.update_id, verdict.message, polled ? current : null))
      .catch((err: unknown) => logger.error({ err, updateId: update.update_id }, 'Telegram update handling failed unexpectedly'))
      .finally(() => {
        outstanding = { polled: outstanding.polled - (polled ? 1 : 0), all: outstanding.all - 1 };
        settled.emit('settled');
      });
  }

  function dispatchPolled(update: Update): void {
    try {
      dispatch(update, true);
    } catch (err) {
      // One odd update must not end polling for everyone.
      logger.error({ err, updateId: update.update_id }, 'could not handle a Telegram update; skipping it');
      journal?.done(update.update_id);
    }
  }

  /** Runs the turn and delivers the reply; `journal` is set for polled updates. */
  async function answer(updateId: number, message: InboundMessage, polledJournal: UpdateJournal | null): Promise<void> {
    const polled = polledJournal !== null;
    const stillOwned = () => !polled || (owning && journal === polledJournal);
    // Not started before the stop: left in the journal for the next owner.
    if (polled && (!accepting || journal !== polledJournal)) return;
    let reply: string;
    try {
      reply = await onInbound(message);
    } catch (err) {
      if (!stillOwned()) return;
      logger.warn({ err, updateId, chatId: message.chatId }, 'the agent could not answer a Telegram message; telling the user');
      reply = FAILURE_NOTICE;
    }
    if (!stillOwned()) {
      logger.warn({ updateId, chatId: message.chatId }, 'polling was handed over before this reply went out; the next owner answers the update again');
      return;
    }
    try {
      await send(message.chatId, reply);
    } catch (err) {
      logger.error({ err, updateId, chatId: message.chatId }, 'reply could not be delivered to Telegram; giving up on this update');
    }
    polledJournal?.done(updateId);
  }

  async function send(chatId: string, text: string): Promise<void> {
    const parts = splitText(text);
    for (const [index, part] of parts.entries()) {
      try {
        await withRetry(() => api.sendMessage(chatId, part, undefined, grammySignal(AbortSignal.timeout(SEND_TIMEOUT_MS))), {
          policy: config.sendRetry,
          classify: classifyTelegramError,
          onRetry: (err, attempt, delayMs) => logger.warn({ chatId, attempt, retryInMs: delayMs, error: describe(err) }, 'Telegram sendMessage failed; retrying'),
        });
      } catch (err) {
        const partial = index > 0 ? ` (${index} of ${parts.length} parts were delivered)` : '';
        // No `cause`: the library's error can carry the request URL, and with it the token.
        const failure = apiError('CHANNEL_ERROR', `Telegram delivery to chat ${chatId} failed: ${describe(err)}${partial}`);
        // Network trouble and Telegram's 5xx may clear; a 400/403 (chat gone, bot blocked) will not.
        failure.retryable = classifyTelegramError(err).retry;
        throw failure;
      }
    }
  }

  async function waitForOutstanding(kind: 'polled' | 'all', timeoutMs: number): Promise<boolean> {
    const signal = AbortSignal.timeout(timeoutMs);
    while (outstanding[kind] > 0) {
      try {
        await once(settled, 'settled', { signal });
      } catch {
        return false;
      }
    }
    return true;
  }

  async function startPolling(): Promise<void> {
    journal = openUpdateJournal(journalFile, (err, action) => logger.error({ err, file: journalFile }, `could not ${action} the Telegram polling journal; going on without it`));
    accepting = true;
    owning = true;
    const pending = journal.pending();
    if (pending.length > 0) logger.info({ count: pending.length, offset: journal.offset }, 'answering Telegram updates a previous worker fetched but did not answer');
    for (const update of pending) dispatchPolled(update);
    poller = startPoller({
      api,
      journal,
      timeoutSeconds: config.pollTimeoutSeconds,
      minIntervalMs: config.pollIntervalMs,
      onBatch: (updates) => {
        for (const update of updates) dispatchPolled(update);
      },
      capacity: async (signal) => {
        while (outstanding.polled >= MAX_OUTSTANDING) await once(settled, 'settled', { signal });
      },
      describe,
      logger,
    });
    logger.info({ offset: journal.offset, apiRoot: config.apiRoot ?? 'https://api.telegram.org' }, 'Telegram long polling started');
  }

  async function stopPolling(): Promise<void> {
    accepting = false;
    await poller?.stop();
    poller = null;
    const finished = await waitForOutstanding('polled', STOP_WAIT_MS);
    if (!finished) logger.warn({ outstanding: outstanding.polled, waitedMs: STOP_WAIT_MS }, 'Telegram turns still running at stop; their updates stay journaled for the next owner');
    owning = false;
    journal = null;
    logger.info('Telegram long polling stopped');
  }

  /** Webhook mode with `webhookUrl`: (re)registers the webhook, retrying in the background. */
  function registerWebhook(): void {
    if (!config.webhookUrl) return;
    webhookSetup = new AbortController();
    const { signal } = webhookSetup;
    void withRetry(() => api.setWebhook(config.webhookUrl!, { secret_token: config.webhookSecret!, allowed_updates: ['message'] }, grammySignal(signal)), {
      policy: { attempts: 10, minDelayMs: 1000, maxDelayMs: 60_000 },
      classify: classifyTelegramError,
      signal,
      onRetry: (err, attempt, delayMs) => logger.warn({ attempt, retryInMs: delayMs, error: describe(err) }, 'Telegram setWebhook failed; retrying'),
    }).then(
      () => logger.info({ url: config.webhookUrl }, 'Telegram webhook registered'),
      (err: unknown) => {
        if (!signal.aborted) logger.error({ error: describe(err) }, 'could not register the Telegram webhook (channels.telegram.webhookUrl); updates will not arrive until it is');
      },
    );
  }

  function serialized(step: () => Promise<void>): Promise<void> {
    lifecycle = lifecycle.then(step, step);
    return lifecycle;
  }

  const start = () => serialized(async () => {
    if (config.mode === 'webhook') {
      if (!webhookSetup) registerWebhook();
      return;
    }
    if (!poller) await startPolling();
  });

  const stop = () => serialized(async () => {
    webhookSetup?.abort();
    webhookSetup = null;
    if (poller || owning) await stopPolling();
  });

  return {
    name: TELEGRAM_CHANNEL,
    start,
    stop,

    async close() {
      await stop();
      if (!(await waitForOutstanding('all', CLOSE_WAIT_MS))) logger.warn({ outstanding: outstanding.all }, 'Telegram turns still running as the worker exits');
    },

    send: (chatId, text) => send(chatId, text),

    async reportFailure(chatId) {
      await send(chatId, FAILURE_NOTICE);
    },

    async handleWebhook(request) {
      if (config.mode !== 'webhook') throw apiError('CHANNEL_NOT_FOUND', 'The telegram channel uses long polling (channels.telegram.mode); it takes no webhooks');
      const presented = request.headers['x-telegram-bot-api-secret-token'];
      if (!expectedSecret || !presented || !timingSafeEqual(digest(presented), expectedSecret)) {
        throw apiError('UNAUTHORIZED', 'Missing or wrong X-Telegram-Bot-Api-Secret-Token');
      }
      const update = request.body as Update | undefined;
      if (!update || typeof update !== 'object' || !Number.isSafeInteger(update.update_id)) throw apiError('INVALID_REQUEST', 'Body is not a Telegram update (no update_id)');
      // Telegram retries an update it got no 2xx for: answer it again, handle it once.
      if (recentIds.includes(update.update_id)) return { status: 200, body: { ok: true } };
      const verdict = readUpdate(update, allowed);
      if (verdict.kind === 'message') {
        // Written down before the 200 (which makes Telegram forget the update); a refusal
        // (BUSY, a full disk) is an error status, and Telegram sends the update again later.
        accept(verdict.message);
      } else if (verdict.reason === 'not-allowed') {
        logger.info({ updateId: update.update_id, chatId: verdict.chatId, sender: verdict.sender }, 'ignored a Telegram message from a sender not in channels.telegram.allowFrom');
      }
      recentIds.push(update.update_id);
      if (recentIds.length > RECENT_UPDATE_IDS) recentIds.shift();
      return { status: 200, body: { ok: true } };
    },
  };
}

/** A file-name-safe id for the bot: the numeric bot id of a real token, else a hash (never the secret part). */
function botFileId(token: string): string {
  const botId = /^(\d+):/.exec(token)?.[1];
  return botId ?? createHash('sha256').update(token).digest('hex').slice(0, 12);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

