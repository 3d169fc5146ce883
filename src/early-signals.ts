/**
 * Imported first by both process entry points, so that it runs before any other module
 * is evaluated: with no SIGUSR1 listener, Node opens its inspector on 127.0.0.1:9229
 * when SIGUSR1 arrives. The signals received before the real handlers exist are
 * remembered and replayed to them.
 */
const pending: NodeJS.Signals[] = [];
const early = (signal: NodeJS.Signals) => pending.push(signal);
const EARLY_SIGNALS: NodeJS.Signals[] = ['SIGUSR1', 'SIGTERM', 'SIGINT', 'SIGHUP'];
for (const sig of EARLY_SIGNALS) process.on(sig, early);

/** Replaces the early listeners with the real ones and replays what arrived meanwhile. */
export function takeOverSignals(handlers: Partial<Record<NodeJS.Signals, () => void>>): void {
  for (const sig of EARLY_SIGNALS) {
    const handler = handlers[sig];
    if (handler) process.on(sig, handler);
    // SIGUSR1 keeps a no-op listener so the inspector never opens.
    else if (sig === 'SIGUSR1') process.on(sig, () => {});
    process.off(sig, early);
  }
  for (const sig of pending.splice(0)) handlers[sig]?.();
}

/** Drops the early SIGTERM/SIGINT listeners (keeping SIGUSR1 safe) for commands that are not the gateway. */
export function releaseEarlySignals(): void {
  for (const sig of EARLY_SIGNALS) if (sig !== 'SIGUSR1') process.off(sig, early);
}
