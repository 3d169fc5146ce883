import type { LoadedConfig } from '../config.js';

/** ok and warn pass; fail makes `xopc doctor` exit 1; skip: not applicable or cannot be checked here. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of `xopc doctor`: a stable id, what was found, and how to fix it. */
export interface CheckResult {
  id: string;
  status: CheckStatus;
  message: string;
  /** What to do about a warn or fail. */
  fix?: string;
  /** With --fix: what doctor changed. */
  fixed?: string;
}

/** What every check gets: where things are, the config (null when invalid), whether to repair. */
export interface DoctorContext {
  configPath: string;
  stateDir: string;
  /** The config with environment applied, or null when it cannot be loaded. */
  loaded: LoadedConfig | null;
  /** Why the config could not be loaded. */
  configError: string | null;
  fix: boolean;
  env: NodeJS.ProcessEnv;
  home: string;
}

/** One check's result, as the checks build them. */
export function result(id: string, status: CheckStatus, message: string, extra: { fix?: string; fixed?: string } = {}): CheckResult {
  return { id, status, message, ...extra };
}
