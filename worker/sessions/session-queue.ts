/**
 * Runs tasks one at a time per key, in the order `run` was called; different keys run
 * in parallel. This is what makes "messages in one session are handled one at a time,
 * in arrival order" true inside one worker.
 */
export interface KeyedQueue {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
  /** Tasks queued or running for `key`. */
  pending(key: string): number;
  /** Resolves when every task queued so far has settled. */
  idle(): Promise<void>;
}

export function createKeyedQueue(): KeyedQueue {
  // Per key: the settled-promise of the last task queued, and how many are pending.
  const tails = new Map<string, { last: Promise<void>; count: number }>();

  return {
    run<T>(key: string, task: () => Promise<T>): Promise<T> {
      const entry = tails.get(key) ?? { last: Promise.resolve(), count: 0 };
      const result = entry.last.then(task);
      const settled = result.then(() => undefined, () => undefined);
      entry.last = settled;
      entry.count += 1;
      tails.set(key, entry);
      void settled.then(() => {
        entry.count -= 1;
        if (entry.count === 0 && tails.get(key) === entry) tails.delete(key);
      });
      return result;
    },
    pending(key) {
      return tails.get(key)?.count ?? 0;
    },
    async idle() {
      await Promise.all([...tails.values()].map((entry) => entry.last));
    },
  };
}
