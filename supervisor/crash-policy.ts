// Backoff after a worker crash: 100 ms doubling to 30 s; reset once a worker has
// served for a minute. Five crashes inside a minute means a respawn will not help:
// give up and exit non-zero so a service manager (or a human) takes over.
const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;
const GIVE_UP_CRASHES = 5;
const GIVE_UP_WINDOW_MS = 60_000;

export interface CrashPolicy {
  /** Records a crash; returns the delay before the next worker, or null to give up. */
  onCrash(now?: number): number | null;
  /** Records that a worker became ready at `now`. */
  onReady(now?: number): void;
  /** For metrics: crashes within the window, the count that gives up, and the delay the next crash would get. */
  state(now?: number): { recentCrashes: number; giveUpAt: number; nextDelayMs: number };
}

export function createCrashPolicy(): CrashPolicy {
  let crashes: number[] = [];
  let consecutive = 0;
  let readyAt: number | null = null;
  return {
    onCrash(now = Date.now()) {
      if (readyAt !== null && now - readyAt >= HEALTHY_AFTER_MS) consecutive = 0;
      readyAt = null;
      consecutive++;
      crashes = crashes.filter((t) => now - t < GIVE_UP_WINDOW_MS);
      crashes.push(now);
      if (crashes.length >= GIVE_UP_CRASHES) return null;
      return Math.min(BASE_DELAY_MS * 2 ** (consecutive - 1), MAX_DELAY_MS);
    },
    onReady(now = Date.now()) {
      readyAt = now;
    },
    state(now = Date.now()) {
      const recentCrashes = crashes.filter((t) => now - t < GIVE_UP_WINDOW_MS).length;
      const healthy = readyAt !== null && now - readyAt >= HEALTHY_AFTER_MS;
      const next = healthy ? 0 : consecutive;
      return { recentCrashes, giveUpAt: GIVE_UP_CRASHES, nextDelayMs: Math.min(BASE_DELAY_MS * 2 ** next, MAX_DELAY_MS) };
    },
  };
}
