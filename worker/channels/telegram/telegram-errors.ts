import { GrammyError, HttpError } from 'grammy';
import type { RetryVerdict } from '../retry.js';

/**
 * How the Telegram channel reads grammY's errors. GrammyError: Telegram answered with
 * an error code; HttpError: the request never got an answer (network, timeout, abort).
 */

/** Worth retrying: network failures, Telegram's 5xx, and 429 after its retry_after. */
export function classifyTelegramError(err: unknown): RetryVerdict {
  if (err instanceof GrammyError) {
    if (err.error_code === 429) return { retry: true, afterMs: (err.parameters.retry_after ?? 1) * 1000 };
    return { retry: err.error_code >= 500 };
  }
  return { retry: err instanceof HttpError };
}

/** The token was refused: polling cannot work until the config changes. */
export function isUnauthorized(err: unknown): boolean {
  return err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404);
}

/** Telegram's 409: another getUpdates is running, or a webhook is set. */
export function conflictKind(err: unknown): 'webhook' | 'poller' | null {
  if (!(err instanceof GrammyError) || err.error_code !== 409) return null;
  return /webhook/i.test(err.description) ? 'webhook' : 'poller';
}

/** One line for logs and CHANNEL_ERROR messages, with the bot token masked wherever a library put it. */
export function describeTelegramError(err: unknown, token: string): string {
  let text: string;
  if (err instanceof GrammyError) text = `Telegram answered ${err.error_code}: ${err.description}`;
  else if (err instanceof HttpError) text = `${err.message} ${causeOf(err.error)}`.trim();
  else text = err instanceof Error ? err.message : String(err);
  return token ? text.split(token).join('<token>') : text;
}

function causeOf(error: unknown): string {
  if (!(error instanceof Error)) return '';
  const code = (error as NodeJS.ErrnoException).code;
  return `(${code ?? error.name}${error.message ? `: ${error.message}` : ''})`;
}

/** grammY types its signals as the `abort-controller` polyfill's; it accepts Node's own at run time. */
export function grammySignal(signal: AbortSignal): Parameters<import('grammy').Api['getMe']>[0] {
  return signal as unknown as Parameters<import('grammy').Api['getMe']>[0];
}
