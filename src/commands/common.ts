import { configPath as resolveConfigPath, lockPath as resolveLockPath } from '../paths.js';
import { loadConfig, type LoadedConfig } from '../config.js';
import { readLock, type LockState } from '../lock.js';

/** Options every management command accepts. */
export interface TargetOptions {
  config?: string;
}

/** Which gateway a command talks to: the one whose lock belongs to this config path. */
export interface Target {
  configPath: string;
  lockPath: string;
  lock: LockState;
}

export function resolveTarget(options: TargetOptions): Target {
  const configPath = resolveConfigPath(options.config);
  const lockPath = resolveLockPath(configPath);
  return { configPath, lockPath, lock: readLock(lockPath) };
}

/** Loads the config for a management command (no token generation, no writes). */
export function loadTargetConfig(target: Target): LoadedConfig {
  return loadConfig(target.configPath);
}

/** The host a client on this machine should use to reach a gateway bound to `host`. */
export function clientHost(host: string): string {
  if (host === '0.0.0.0' || host === '' ) return 'localhost';
  if (host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

export function gatewayUrl(host: string, port: number): string {
  return `http://${clientHost(host)}:${port}`;
}

export { probeHealth } from '../health-probe.js';
