import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from 'grammy';
import type { Update } from 'grammy/types';
import type { Logger } from '../../../src/logger.js';
import { backoffDelay } from '../retry.js';
import { classifyTelegramError, conflictKind, grammySignal, isUnauthorized } from './telegram-errors.js';
import type { UpdateJournal } from './update-journal.js';

export interface PollerOptions {
  api: Api;
  journal: UpdateJournal;
  /** getUpdates' long-poll timeout. */
  timeoutSeconds: number;
  /** Least time between two getUpdates calls when the last one brought nothing. */
  minIntervalMs: number;
  /** Each batch, after the journal holds it. */
  onBatch(updates: Update[]): void;
  /** Resolves when there is room for another batch (back-pressure while turns pile up). */
  capacity(signal: AbortSignal): Promise<void>;
  describe(err: unknown): string;
  logger: Logger;
}

export interface Poller {
  /** Aborts the long poll in flight and resolves once the loop has exited. */
  stop(): Promise<void>;
}

// Failed getUpdates calls back off from 1 s to 30 s; a refused token waits the longest.
const FAILURE_BACKOFF = { minDelayMs: 1000, maxDelayMs: 30_000 };

/**
 * Long polling with grammY's Api: getUpdates from the journal's offset, journal the batch,
 * hand it on, repeat. Failures (network, 5xx, 429, 409, a refused token) are logged and
 * retried with backoff; the loop only ends through `stop()`.
 */
export function startPoller(options: PollerOptions): Poller {
  const { api, journal, logger } = options;
  const abort = new AbortController();
  const { signal } = abort;

  async function loop(): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      await options.capacity(signal).catch(() => undefined);
      if (signal.aborted) break;
      const startedAt = Date.now();
      let updates: Update[];
      try {
        updates = await api.getUpdates({ offset: journal.offset || undefined, timeout: options.timeoutSeconds, allowed_updates: ['message'] }, grammySignal(signal));
      } catch (err) {
        if (signal.aborted) break;
        failures += 1;
        await recover(err, failures);
        continue;
      }
      if (failures > 0) logger.info({ failures }, 'Telegram polling recovered');
      failures = 0;
      // Journaled even if a stop came in meanwhile: Telegram counts them as delivered once
      // the next poller confirms the offset, so the file must have them.
      if (updates.length > 0) {
        journal.accept(updates);
        options.onBatch(updates);
      } else {
        const wait = options.minIntervalMs - (Date.now() - startedAt);
        if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async function recover(err: unknown, failures: number): Promise<void> {
    const conflict = conflictKind(err);
    if (conflict === 'webhook') {
      // A webhook from an earlier webhook-mode run blocks getUpdates; polling mode is what the config asks for.
      logger.warn('Telegram has a webhook set for this bot; removing it to poll (channels.telegram.mode is "polling")');
      try {
        await api.deleteWebhook({ drop_pending_updates: false }, grammySignal(signal));
        return;
      } catch (deleteErr) {
        if (signal.aborted) return;
        logger.warn({ error: options.describe(deleteErr) }, 'could not remove the Telegram webhook');
      }
    }
    const verdict = classifyTelegramError(err);
    const delayMs = isUnauthorized(err) ? FAILURE_BACKOFF.maxDelayMs : Math.max(verdict.afterMs ?? 0, backoffDelay(failures, FAILURE_BACKOFF));
    const context = { failures, retryInMs: delayMs, error: options.describe(err) };
    if (isUnauthorized(err)) logger.error(context, 'Telegram refused the bot token (channels.telegram.token); polling retries slowly until it is fixed');
    else if (conflict === 'poller') logger.warn(context, 'Telegram reports another getUpdates for this bot (a second gateway or bot with the same token?); retrying');
    else logger.warn(context, 'Telegram getUpdates failed; retrying with backoff');
    await sleep(delayMs, undefined, { signal }).catch(() => undefined);
  }

  const finished = loop().catch((err: unknown) => {
    // Nothing in the loop should throw; if it does, polling stops but the worker stays up.
    logger.error({ err }, 'Telegram polling stopped after an unexpected error');
  });

  return {
    async stop() {
      abort.abort();
      await finished;
    },
  };
}
