import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Where the gateway keeps everything it writes: `XOPC_HOME`, else `~/.xopc`. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.XOPC_HOME || join(homedir(), '.xopc'));
}

/** The config file path: `--config` flag, else `XOPC_CONFIG`, else `<state>/config.json`; always absolute. */
export function configPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.XOPC_CONFIG || join(stateDir(env), 'config.json'));
}

/** First 8 hex chars of SHA-256 of the absolute config path: one lock per config. */
export function configHash(absConfigPath: string): string {
  return createHash('sha256').update(absConfigPath).digest('hex').slice(0, 8);
}

/**
 * Where one gateway keeps what it writes (sessions, cron jobs, pending messages, channel
 * state, logs): the state dir itself for the default config (`<state>/config.json`),
 * `<state>/gateways/<hash>/` for any other config file. Two gateways with different
 * configs on one state dir so never share work; only the locks dir is common.
 */
export function gatewayStateDir(absConfigPath: string, env: NodeJS.ProcessEnv = process.env): string {
  const root = stateDir(env);
  return resolve(absConfigPath) === join(root, 'config.json') ? root : join(root, 'gateways', configHash(resolve(absConfigPath)));
}

export function locksDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'locks');
}

export function lockPath(absConfigPath: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(locksDir(env), `gateway.${configHash(absConfigPath)}.lock`);
}

/** The log file when `logging.file` is not set: `logs/gateway.log` in the gateway's state dir (see gatewayStateDir). */
export function defaultLogFile(env: NodeJS.ProcessEnv = process.env, absConfigPath?: string): string {
  return join(absConfigPath ? gatewayStateDir(absConfigPath, env) : stateDir(env), 'logs', 'gateway.log');
}

export function sessionsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'sessions');
}

export function cronDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'cron');
}

/** The pid file of pre-lock versions; removed at start. */
export function legacyPidFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'gateway.pid');
}
