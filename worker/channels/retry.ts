import { setTimeout as sleep } from 'node:timers/promises';

/** `channels.*.sendRetry` / `replyRetry`: tries in all, and the bounds of the delay between them. */
export interface RetryPolicy {
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

/** Whether a failure is worth another try, and (e.g. Telegram's retry_after) how long to wait first. */
export interface RetryVerdict {
  retry: boolean;
  afterMs?: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  classify(err: unknown): RetryVerdict;
  /** Called before each wait; for logs. */
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  /** Aborting ends the waiting at once with the last error. */
  signal?: AbortSignal;
}

/**
 * The delay before try `attempt + 1`: doubling from minDelayMs, capped at maxDelayMs,
 * with the upper half jittered so that many senders do not retry in lockstep.
 */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'minDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** Runs `task` up to `policy.attempts` times; rethrows the last error (or the first one that is not retryable). */
export async function withRetry<T>(task: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, signal } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (err) {
      const verdict = options.classify(err);
      if (!verdict.retry || attempt >= policy.attempts || signal?.aborted) throw err;
      // A server's own retry_after wins, but never past the policy's cap.
      const delayMs = Math.min(policy.maxDelayMs, verdict.afterMs ?? backoffDelay(attempt, policy));
      options.onRetry?.(err, attempt, delayMs);
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        throw err;
      }
    }
  }
}
