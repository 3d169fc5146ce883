import { homedir, userInfo } from 'node:os';
import { stateDir } from '../paths.js';
import { CliError } from '../cli-error.js';
import { createToolRunner } from './exec.js';
import { createLaunchdManager } from './launchd.js';
import { createSystemdManager } from './systemd.js';
import type { ManagerDeps, ServiceManager } from './types.js';
import { createWindowsManager } from './windows.js';

export type { ServiceManager, ServiceStatus, InstallResult, UninstallResult, ActionResult, ManagerKind, InstalledDefinition } from './types.js';
export { buildServiceSpec, type Runtime, type ServiceSpec } from './spec.js';

/** The real world: this user's home, the real tools with bounded timeouts. */
export function defaultManagerDeps(env: NodeJS.ProcessEnv = process.env): ManagerDeps & { stateDir: string } {
  return {
    run: createToolRunner(undefined, env),
    env,
    home: homedir(),
    username: currentUsername(env),
    uid: typeof process.getuid === 'function' ? process.getuid() : -1,
    stateDir: stateDir(env),
  };
}

/** The account name (the passwd entry; the environment only when there is none, e.g. a bare container uid). */
function currentUsername(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER || env.USERNAME || 'user';
  }
}

/** The service manager of this platform: systemd (Linux), launchd (macOS), Task Scheduler (Windows). */
export function createServiceManager(platform: NodeJS.Platform, deps: ManagerDeps & { stateDir: string }): ServiceManager {
  switch (platform) {
    case 'linux':
      return createSystemdManager(deps);
    case 'darwin':
      return createLaunchdManager(deps);
    case 'win32':
      return createWindowsManager(deps);
    default:
      throw new CliError(`Service install is not supported on ${platform} (supported: Linux with systemd, macOS, Windows). Run \`xopc gateway\` under your own supervisor instead.`);
  }
}
