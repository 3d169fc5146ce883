import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import { CliError, EXIT } from '../cli-error.js';
import { ensureToken, loadConfig, writeConfigFile, type LoadedConfig } from '../config.js';
import { configPath as resolveConfigPath, defaultLogFile, lockPath } from '../paths.js';
import { readLock } from '../lock.js';
import { buildServiceSpec, createServiceManager, defaultManagerDeps, type InstalledDefinition, type Runtime, type ServiceManager } from '../service/index.js';
import { assertServiceValue } from '../service/spec.js';
import { renderServiceStatus, serviceCommands, type ServiceStatusReport } from '../service/status-view.js';
import { gatewayUrl, probeHealth, type TargetOptions } from './common.js';
import { intOption } from './options.js';
import { createOutput, showProgress, type Output } from './output.js';

export interface InstallOptions extends TargetOptions {
  port?: unknown;
  host?: unknown;
  token?: unknown;
  replaceToken?: boolean;
  runtime?: unknown;
  timeout?: unknown;
  json?: boolean;
}

export interface ServiceStartOptions {
  timeout?: unknown;
  json?: boolean;
}

export interface UninstallOptions {
  json?: boolean;
}

export interface ServiceStatusOptions extends TargetOptions {
  json?: boolean;
}

/** `xopc gateway install` (SPEC 7): writes the service definition, enables and starts it. */
export async function install(options: InstallOptions): Promise<number> {
  const runtime = parseRuntime(options.runtime);
  const port = intOption('port', options.port, 1, 65535);
  const host = options.host === undefined ? undefined : stringOption('host', options.host);
  if (host !== undefined && (host === '' || /\s/.test(host))) throw new CliError('--host must be an address without spaces', EXIT.USAGE);
  const timeoutMs = intOption('timeout', options.timeout, 0, 600_000) ?? 0;
  const env = process.env;
  const configPath = resolveConfigPath(options.config);

  const token = options.token === undefined ? undefined : tokenOption(options.token);
  // Read-only first: every value is checked and the command line built before anything is written.
  // The shell's XOPC_GATEWAY_TOKEN is ignored: the service does not inherit it.
  const envWithoutToken = { ...env, XOPC_GATEWAY_TOKEN: '' };
  const loaded = loadConfig(configPath, { port, host, token }, envWithoutToken);
  const deps = defaultManagerDeps(env);
  const { spec, warnings } = buildServiceSpec({
    runtime,
    port: loaded.config.gateway.port,
    host,
    configPath: options.config || env.XOPC_CONFIG ? configPath : undefined,
    effectiveHost: loaded.config.gateway.host,
    drainTimeoutMs: loaded.config.gateway.drainTimeoutMs,
    home: deps.home,
    logDir: logDir(loaded),
    env,
  });
  const manager = createServiceManager(process.platform, deps);
  const out = createOutput(options.json);
  const tokenStored = token !== undefined && storeToken(configPath, token, Boolean(options.replaceToken), out);
  // The gateway would generate a token at its first start anyway; doing it now means
  // `xopc gateway token` works at once and the service never needs one in its definition.
  const generated = ensureToken(loadConfig(configPath, {}, envWithoutToken)).tokenSource === 'generated';
  const result = await manager.install(spec);

  for (const warning of warnings) out.note(`⚠️  ${warning}`);
  out.note(`${result.changed ? '✅ Wrote' : '✅ Unchanged:'} ${result.definitionPath}`);
  if (generated) out.note(`🔑 Generated an auth token in ${configPath} (show it with \`xopc gateway token\`)`);
  if (result.enabled) out.note('✅ Enabled: starts at login');
  const fields = { definitionPath: result.definitionPath, changed: result.changed, enabled: result.enabled, tokenGenerated: generated, tokenStored, configPath, warnings };
  if (result.problem) {
    out.done({ ...fields, started: false, serving: false, problem: result.problem }, `⚠️  Not started: ${result.problem}`);
    return EXIT.FAILURE;
  }
  for (const note of result.notes) out.note(`ℹ️  ${note}`);
  return reportServing(manager, { host: spec.host, port: spec.port, lockFile: lockPath(configPath) }, timeoutMs, out, fields);
}

/** `xopc gateway service-start`: starts the installed service and waits for /health. */
export async function serviceStart(options: ServiceStartOptions): Promise<number> {
  const timeoutMs = intOption('timeout', options.timeout, 0, 600_000) ?? 0;
  const manager = createServiceManager(process.platform, defaultManagerDeps());
  const before = await manager.status();
  if (!before.installed) throw new CliError(`The service is not installed (${before.definitionPath} does not exist): run \`xopc gateway install\` first.`, EXIT.FAILURE);
  const started = await manager.start();
  if (started.problem) throw new CliError(started.problem);
  const view = serviceView(before.definition, undefined);
  const { host, port } = endpoint(before.definition?.args ?? [], view);
  return reportServing(manager, { host, port, lockFile: lockPath(view.configPath, view.env) }, timeoutMs, createOutput(options.json), { definitionPath: before.definitionPath });
}

/** `xopc gateway service-status`: the installed service as the manager and the lock see it. */
export async function serviceStatus(options: ServiceStatusOptions): Promise<number> {
  const manager = createServiceManager(process.platform, defaultManagerDeps());
  const status = await manager.status();
  const args = status.definition?.args ?? [];
  const view = serviceView(status.definition, options.config);
  const { host, port } = endpoint(args, view);
  const lock = readLock(lockPath(view.configPath, view.env));
  const lockPid = lock.state === 'held' && lock.info.pid > 0 ? lock.info.pid : null;
  // The lock tells the pid when the manager cannot (Task Scheduler, or no bus).
  const fromLock = !status.pid && lockPid !== null && (status.state === 'unknown' || status.manager === 'schtasks');
  const notes: string[] = [];
  if (lockPid !== null && !fromLock && lockPid !== status.pid) {
    notes.push(`A gateway not run by the service holds the lock for this config (pid ${lockPid}); the service cannot start while it runs.`);
  }
  const health = await probeHealth(host, port, 1000);
  const report: ServiceStatusReport = {
    installed: status.installed,
    manager: status.manager,
    definitionPath: status.definitionPath,
    status: status.state,
    detail: status.detail,
    pid: fromLock ? lockPid : status.pid,
    pidSource: fromLock ? 'lock' : status.pid ? 'manager' : null,
    program: status.definition?.program ?? null,
    args,
    workingDir: status.definition?.workingDir ?? null,
    environment: status.definition?.env ?? {},
    configPath: view.configPath,
    url: gatewayUrl(host, port),
    health: { ok: health !== null, uptime: health ? health.uptime : null },
    problem: status.problem,
    notes,
    commands: serviceCommands(manager),
  };
  console.log(options.json ? JSON.stringify(report, null, 2) : renderServiceStatus(report));
  if (status.problem) return EXIT.FAILURE;
  return status.state === 'running' ? EXIT.OK : EXIT.NOT_RUNNING;
}

/** `xopc gateway uninstall`: stops the service and removes what `install` created. */
export async function uninstall(options: UninstallOptions = {}): Promise<number> {
  const manager = createServiceManager(process.platform, defaultManagerDeps());
  const result = await manager.uninstall();
  const out = createOutput(options.json);
  for (const path of result.removed) out.note(`🗑️  Removed ${path}`);
  for (const note of result.notes) out.note(`ℹ️  ${note}`);
  const fields = { uninstalled: result.problem === null && result.removed.length > 0, removed: result.removed, problem: result.problem };
  if (result.problem) {
    out.done(fields, `⚠️  ${result.removed.length > 0 ? 'Files removed, but the service manager was not told (a gateway it runs keeps running): ' : ''}${result.problem}`);
    return EXIT.FAILURE;
  }
  out.done(fields, result.removed.length > 0 ? '✅ Service uninstalled (the config and its token are kept)' : []);
  return EXIT.OK;
}

/** Where the started service should answer, and the lock its gateway should hold. */
interface ServingTarget {
  host: string;
  port: number;
  lockFile: string;
}

/** Waits (bounded) for /health after a start, then says whether the service's gateway serves. */
async function reportServing(manager: ServiceManager, target: ServingTarget, timeoutMs: number, out: Output, fields: Record<string, unknown>): Promise<number> {
  const url = gatewayUrl(target.host, target.port);
  if (timeoutMs === 0) {
    out.done({ ...fields, started: true, serving: null, url }, `✅ Started (not waiting for ${url}/health)`);
    return EXIT.OK;
  }
  const endProgress = showProgress(`waiting for ${url}/health`);
  const serving = await waitServing(manager, target, timeoutMs).finally(endProgress);
  if (!serving) {
    const status = await manager.status();
    const state = status.detail ?? status.state;
    throw new CliError(`The service was started but ${url}/health did not answer within ${timeoutMs} ms (service: ${state}). Logs: ${manager.nativeCommands().logs}`);
  }
  out.done({ ...fields, started: true, serving: true, url }, `✅ Started: ${url}`);
  return EXIT.OK;
}

/** True once the service's own gateway answers /health; false when the time is up. */
async function waitServing(manager: ServiceManager, target: ServingTarget, timeoutMs: number): Promise<boolean> {
  const url = gatewayUrl(target.host, target.port);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probeHealth(target.host, target.port, 1000)) {
      // A gateway started by hand for the same config also answers; the service's own
      // process then waits for the lock and gives up (exit 4). Say so instead of "started".
      const status = await manager.status();
      const lock = readLock(target.lockFile);
      const holder = lock.state === 'held' && lock.info.pid > 0 ? lock.info.pid : null;
      if (status.pid && holder && status.pid !== holder) {
        throw new CliError(`${url} answers, but from a gateway the service did not start (pid ${holder}); the service (pid ${status.pid}) cannot take the lock. Stop the other one with \`xopc gateway stop\`, then run \`xopc gateway service-start\`.`);
      }
      return true;
    }
    await sleep(250);
  }
  return false;
}

/**
 * The config path and environment as the service sees them: its own --config and
 * XOPC_HOME, not this shell's. Without an installed definition, this shell's view.
 */
function serviceView(definition: InstalledDefinition | null, configFlag: string | undefined): { configPath: string; env: NodeJS.ProcessEnv } {
  if (!definition) return { configPath: resolveConfigPath(configFlag), env: process.env };
  const env: NodeJS.ProcessEnv = { ...process.env, XOPC_HOME: definition.env.XOPC_HOME, XOPC_CONFIG: undefined };
  return { configPath: resolveConfigPath(configFromArgs(definition.args), env), env };
}

/** The host and port the service uses: its own arguments first, then its config. */
function endpoint(args: string[], view: { configPath: string; env: NodeJS.ProcessEnv }): { host: string; port: number } {
  let config: LoadedConfig['config'] | null = null;
  try {
    config = loadConfig(view.configPath, {}, { ...view.env, XOPC_GATEWAY_TOKEN: '' }).config;
  } catch {
    /* an invalid config must not hide the service status */
  }
  const argPort = Number(argValue(args, '--port'));
  return {
    host: argValue(args, '--host') ?? config?.gateway.host ?? '0.0.0.0',
    port: Number.isInteger(argPort) && argPort > 0 ? argPort : config?.gateway.port ?? 18790,
  };
}

function configFromArgs(args: string[]): string | undefined {
  return argValue(args, '--config');
}

function argValue(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

function logDir(loaded: LoadedConfig): string {
  return dirname(loaded.config.logging.file ?? defaultLogFile());
}

function parseRuntime(value: unknown): Runtime {
  if (value === 'node' || value === 'binary') return value;
  throw new CliError(`--runtime must be "node" or "binary" (got ${String(value)})`, EXIT.USAGE);
}

function stringOption(name: string, value: unknown): string {
  if (Array.isArray(value)) throw new CliError(`--${name} was given more than once`, EXIT.USAGE);
  if (value === true) throw new CliError(`--${name} needs a value`, EXIT.USAGE);
  return String(value);
}

function tokenOption(value: unknown): string {
  // The argument parser turns digit-only values into numbers, losing leading zeros and precision.
  if (typeof value === 'number') throw new CliError('--token must not be only digits (it cannot be passed through the command line intact); put it in the config file as gateway.auth.token', EXIT.USAGE);
  const token = stringOption('token', value);
  assertServiceValue('--token', token);
  if (token.length < 16) {
    throw new CliError(`--token must be at least 16 characters (this one has ${token.length}): it opens the whole API, and the agent acting for you, to whoever has it, and a short one can be guessed; generate one with \`xopc gateway token --new\``, EXIT.USAGE);
  }
  return token;
}

/**
 * Puts the token into the config file (atomic, 0600): the service reads it from there at
 * every start. A different token already there is what a running gateway and its clients
 * use: it is only replaced with `--replace-token`. Returns whether it wrote.
 */
function storeToken(configPath: string, token: string, replace: boolean, out: Output): boolean {
  const current = loadConfig(configPath, {}, {});
  const existing = (current.raw.gateway as { auth?: { token?: unknown } } | undefined)?.auth?.token;
  if (existing === token) return false;
  if (typeof existing === 'string' && existing !== '' && !replace) {
    const lock = readLock(lockPath(configPath));
    const user = lock.state === 'held' ? `the running gateway (pid ${lock.info.pid}) and its clients use` : 'the gateway and its clients use';
    throw new CliError(`${configPath} already has a different gateway.auth.token, which ${user}. Leave out --token to keep it, or add --replace-token to replace it (clients with the old token then get 401).`, EXIT.USAGE);
  }
  const raw = structuredClone(current.raw) as { gateway?: { auth?: { token?: string } } };
  raw.gateway = { ...raw.gateway, auth: { ...raw.gateway?.auth, token } };
  writeConfigFile(configPath, raw as Record<string, unknown>);
  out.note(`🔑 ${existing ? 'Replaced' : 'Stored'} the token in ${configPath}`);
  return true;
}
