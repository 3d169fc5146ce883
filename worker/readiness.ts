/**
 * Whether this worker should get traffic, as named checks that features register: GET
 * /readyz answers 200 when every check passes and 503 naming those that do not. A check
 * returns null when ready, else the reason (one short sentence).
 */
export interface Readiness {
  register(name: string, check: () => string | null): void;
  report(): ReadinessReport;
}

export interface ReadinessReport {
  ready: boolean;
  /** Every check by name: `ok`, or the reason it is not ready. */
  checks: Record<string, string>;
}

/** An empty set of checks: ready until a registered check says otherwise. */
export function createReadiness(): Readiness {
  const checks = new Map<string, () => string | null>();
  return {
    register(name, check) {
      if (checks.has(name)) throw new Error(`readiness check "${name}" is registered twice`);
      checks.set(name, check);
    },
    report() {
      const result: Record<string, string> = {};
      let ready = true;
      for (const [name, check] of checks) {
        let reason: string | null;
        try {
          reason = check();
        } catch (err) {
          reason = `check failed: ${(err as Error)?.message ?? String(err)}`;
        }
        if (reason !== null) ready = false;
        result[name] = reason ?? 'ok';
      }
      return { ready, checks: result };
    },
  };
}

/**
 * The worker's own lifecycle as readiness checks: `started` until it serves, `draining`
 * once it stops, `background` while the background services it owns are not running
 * (starting, handed over to it but not yet started, or failed to start).
 */
export function createLifecycleChecks(readiness: Readiness) {
  let serving = false;
  let draining = false;
  let background: 'not-owned' | 'starting' | 'running' | 'failed' | 'stopped' = 'not-owned';
  readiness.register('started', () => (serving ? null : 'the worker is starting'));
  readiness.register('draining', () => (draining ? 'the worker is draining (stopping or being replaced)' : null));
  readiness.register('background', () => {
    if (background === 'starting') return 'background services (channels, cron) are starting';
    if (background === 'failed') return 'background services (channels, cron) failed to start: see the log';
    if (background === 'not-owned') return 'background services (channels, cron) not started yet: another worker hands them over';
    // 'running', or 'stopped' because they were handed to a newer worker: this one still serves.
    return null;
  });
  return {
    serving: () => void (serving = true),
    draining: () => void (draining = true),
    background: (state: typeof background) => void (background = state),
  };
}
