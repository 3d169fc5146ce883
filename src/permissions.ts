import { chmodSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';

/** A file or folder whose mode let other users in, and what was done about it. */
export interface PermissionFinding {
  path: string;
  kind: 'config' | 'state dir';
  /** The mode found, e.g. 0o644. */
  was: number;
  /** The mode set, or null when it could not be changed (see `error`). */
  now: number | null;
  error?: string;
}

/**
 * Tightens the config file to 0600 and the state dir to 0700 when group or others may
 * read them: the config holds the gateway token and provider keys, the state dir every
 * conversation. A file made by hand, or copied with a umask of 022, is the usual cause.
 * Whatever could not be fixed (another owner, a read-only mount) is reported, not
 * fatal: the owner decides. Does nothing on Windows (no POSIX modes) and leaves a state
 * dir that is the home folder itself alone.
 */
export function tightenPermissions(paths: { configPath: string; stateDir: string }, platform: NodeJS.Platform = process.platform): PermissionFinding[] {
  if (platform === 'win32') return [];
  const findings: PermissionFinding[] = [];
  const check = (path: string, kind: PermissionFinding['kind'], wanted: number, mayChange: boolean) => {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      return; // Not there (yet): whatever creates it uses the right mode.
    }
    if ((mode & 0o077) === 0) return;
    if (!mayChange) {
      findings.push({ path, kind, was: mode, now: null, error: 'it is the home folder; not changed' });
      return;
    }
    try {
      chmodSync(path, wanted);
      findings.push({ path, kind, was: mode, now: wanted });
    } catch (err) {
      findings.push({ path, kind, was: mode, now: null, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    }
  };
  check(paths.configPath, 'config', 0o600, true);
  check(paths.stateDir, 'state dir', 0o700, resolve(paths.stateDir) !== resolve(homedir()));
  return findings;
}

/** `0o644` as "0644", for messages. */
export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
