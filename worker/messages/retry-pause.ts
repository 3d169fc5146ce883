import { once, type EventEmitter } from 'node:events';

/**
 * Waits `ms` before a retry, or less: until `wake` emits `'wake'` (the state dir is writable
 * again) or `stop` aborts (the worker exits).
 *
 * A plain timer, not `AbortSignal.any([stop, AbortSignal.timeout(ms)])`: on Node 20 such a
 * composite signal, referenced by nothing but the listener, can be garbage-collected before
 * its timeout fires, and the retry would then wait for ever.
 */
export async function retryPause(ms: number, wake: EventEmitter, stop: AbortSignal): Promise<void> {
  const done = new AbortController();
  const timer = setTimeout(() => done.abort(), ms);
  const abort = () => done.abort();
  stop.addEventListener('abort', abort, { once: true });
  try {
    await once(wake, 'wake', { signal: done.signal }).catch(() => undefined);
  } finally {
    clearTimeout(timer);
    stop.removeEventListener('abort', abort);
  }
}
