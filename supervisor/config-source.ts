import { statSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { RESTART_ONLY_KEYS, loadConfig, type Config, type ConfigFlags } from '../src/config.js';

/** Keys only the supervisor reads (the memory guard's limits): a change applies at once, no worker is replaced. */
const SUPERVISOR_LIVE_KEYS = ['gateway.worker.maxRssMb', 'gateway.worker.maxAgeHours'];

/** Whether a dotted key is one of `roots` or lies under one. */
const under = (roots: readonly string[]) => (key: string) => roots.some((root) => key === root || key.startsWith(root + '.'));
const needsFullRestart = under(RESTART_ONLY_KEYS);
const appliesLive = under(SUPERVISOR_LIVE_KEYS);
/** A key a worker applies: neither the supervisor's own from its start nor the memory guard's live limits. */
const appliesInWorker = (key: string) => !needsFullRestart(key) && !appliesLive(key);

// Polling the file's stat rather than fs.watch: it follows editors that replace the file
// by rename, works on network and bind-mounted file systems where inotify stays silent,
// and costs one stat a second.
const POLL_INTERVAL_MS = 1000;
// An editor that truncates and then writes is caught half-way by a poll now and then: the
// file is read once it has not changed for this long.
const SETTLE_MS = 300;

export type ConfigChange =
  | {
      kind: 'changed';
      config: Config;
      /** Every changed key, dotted. */
      keys: string[];
      /** Those that wait for a full stop and start. */
      needsFullRestart: string[];
      /** Those the supervisor applies at once. */
      live: string[];
      /** Those a new worker applies. */
      forWorkers: string[];
    }
  | { kind: 'invalid'; message: string };

/**
 * The config new workers get: loaded at start, re-read at every restart and crash
 * respawn, and (with `watch`) whenever the file changes. An invalid file never replaces
 * a valid config.
 */
export function createConfigSource(path: string, flags: ConfigFlags, initial: Config) {
  let current = initial;
  let watching = false;

  /**
   * Reads the file again; throws a ConfigError when it is invalid (the config of the
   * moment stays). Never writes: a file that lost its token keeps the running one (a
   * token generated here would lock every client out, and writing while an editor
   * writes would corrupt its save).
   */
  function read(): Config {
    const config = loadConfig(path, flags).config;
    if (!config.gateway.auth.token) config.gateway.auth.token = current.gateway.auth.token;
    return config;
  }

  function diff(next: Config): ConfigChange & { kind: 'changed' } {
    const keys = changedKeys(current, next);
    return { kind: 'changed', config: next, keys, needsFullRestart: keys.filter(needsFullRestart), live: keys.filter(appliesLive), forWorkers: keys.filter(appliesInWorker) };
  }

  return {
    get: (): Config => current,
    path,
    /** Re-reads the file for the next worker; returns what changed, throws when invalid. */
    reload(): ConfigChange & { kind: 'changed' } {
      const change = diff(read());
      current = change.config;
      return change;
    },
    /**
     * Calls `onChange` once per edit of the file that changes the config (`changed`) or
     * makes it invalid (`invalid`, once per distinct problem). A `changed` config is the
     * config of the moment from then on.
     */
    watch(onChange: (change: ConfigChange) => void): () => void {
      let lastProblem: string | null = null;
      let settle: NodeJS.Timeout | null = null;
      // watchFile reports a missing file as stats of all zeros.
      const fingerprint = (stats: Stats | undefined) => (stats && stats.mtimeMs !== 0 ? `${stats.ino} ${stats.size} ${stats.mtimeMs}` : 'none');
      const stat = () => {
        try {
          return statSync(path);
        } catch {
          return undefined;
        }
      };
      const listener = (now: Stats, before: Stats) => {
        if (fingerprint(now) === fingerprint(before)) return;
        if (settle) clearTimeout(settle);
        const seen = fingerprint(now);
        settle = setTimeout(() => {
          settle = null;
          // Still being written: the next change event comes.
          if (fingerprint(stat()) !== seen) return;
          apply();
        }, SETTLE_MS);
        settle.unref();
      };
      const apply = () => {
        let next: Config;
        try {
          // A missing file reads as all defaults: never what an edit meant.
          if (!stat()) throw new Error(`the config file ${path} is gone`);
          next = read();
        } catch (err) {
          const message = (err as Error).message;
          if (message !== lastProblem) onChange({ kind: 'invalid', message });
          lastProblem = message;
          return;
        }
        lastProblem = null;
        if (isDeepStrictEqual(next, current)) return;
        const change = diff(next);
        current = next;
        onChange(change);
      };
      watchFile(path, { interval: POLL_INTERVAL_MS, persistent: false }, listener);
      watching = true;
      return () => {
        if (settle) clearTimeout(settle);
        if (watching) unwatchFile(path, listener);
        watching = false;
      };
    },
  };
}

export type ConfigSource = ReturnType<typeof createConfigSource>;

/** Keys that differ between two configs and that a worker applies (not the supervisor's own). */
export function workerKeys(a: Config, b: Config): string[] {
  return changedKeys(a, b).filter(appliesInWorker);
}

/** Dotted keys whose values differ between two configs (leaves; arrays compared whole). */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  if (!isPlainObject(a) || !isPlainObject(b)) return [prefix || '(root)'];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((key) => changedKeys(a[key], b[key], prefix ? `${prefix}.${key}` : key));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
