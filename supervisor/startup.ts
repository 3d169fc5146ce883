import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { isRunning } from '../src/proc.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../src/config.js';
import { CliError, EXIT } from '../src/cli-error.js';
import { acquireLock, lockInfoForSelf, readLock, removeUnreadableLock, type LockInfo } from '../src/lock.js';
import { findLiveGateway } from '../src/lock-owner.js';
import type { Logger } from '../src/logger.js';
import { legacyPidFile } from '../src/paths.js';
import { bindListenSocket, BindError, type ListenSocket } from './listen-socket.js';
import { portOwners, terminateProcesses, waitForPortFree } from './port.js';
import { isSupervised } from './restart-mode.js';
import { probeHealth } from '../src/health-probe.js';

// Under a service manager, how much longer than the drain bound to wait for a previous
// instance that still holds the lock (it is draining) before giving up with exit 4.
const SUPERVISED_LOCK_WAIT_EXTRA_MS = 3000;

/** Takes the gateway lock: over a stale one with a warning; from a live one only with --force. */
export async function takeLock(lockFile: string, options: { configPath: string; force: boolean }, config: Config, logger: Logger): Promise<LockInfo> {
  const info = lockInfoForSelf(options.configPath);
  const supervised = isSupervised(process.env);
  const waitUntil = Date.now() + config.gateway.drainTimeoutMs + SUPERVISED_LOCK_WAIT_EXTRA_MS;
  for (;;) {
    const result = acquireLock(lockFile, info);
    if (result.ok) {
      if (result.tookOver) logger.warn({ previous: result.tookOver.info?.pid, reason: result.tookOver.reason }, 'took over a stale gateway lock');
      return info;
    }
    if ('unreadable' in result) {
      await handleUnreadableLock(lockFile, result.unreadable, options, config, logger);
      continue;
    }
    const holder = result.holder;
    if (options.force && holder.pid > 0) {
      logger.warn({ holderPid: holder.pid }, '--force: stopping the running gateway');
      await terminateProcesses([holder.pid, ...(holder.workerPid ? [holder.workerPid] : [])]);
      continue;
    }
    if (supervised && Date.now() < waitUntil) {
      // A previous instance still draining after a restart: wait for it rather than fail in a loop.
      if (Date.now() + 100 >= waitUntil || readLock(lockFile).state !== 'held') continue;
      await sleep(100);
      continue;
    }
    // Say what we found: a holder that no longer answers is worth knowing about (a zombie).
    const answering = holder.port ? await probeHealth(holder.host ?? '127.0.0.1', holder.port) : null;
    const hint = holder.port && !answering ? ` It is not answering on port ${holder.port}.` : '';
    throw new CliError(`Gateway already running (pid ${holder.pid}). Use --force to kill existing process.${hint}`, supervised ? EXIT.ALREADY_RUNNING_SUPERVISED : EXIT.FAILURE);
  }
}

/**
 * An unreadable lock is removed only when no gateway of this config can be found without
 * it (src/lock-owner.ts); otherwise the start fails and leaves it (or, with --force,
 * stops the gateway found first). So a failed start never leaves a running gateway
 * without its lock.
 */
async function handleUnreadableLock(lockFile: string, unreadable: { reason: string; raw: string }, options: { configPath: string; force: boolean }, config: Config, logger: Logger): Promise<void> {
  const live = await findLiveGateway(options.configPath, { port: config.gateway.port, host: config.gateway.host });
  if (!live) {
    if (removeUnreadableLock(lockFile, unreadable.raw)) logger.warn({ lockFile, reason: unreadable.reason }, 'removed an unreadable gateway lock: no gateway of this config is running');
    return;
  }
  if (options.force && live.pid) {
    logger.warn({ pid: live.pid, found: live.how }, '--force: stopping the gateway found behind an unreadable lock');
    await terminateProcesses([live.pid]);
    return;
  }
  const supervised = isSupervised(process.env);
  throw new CliError(
    `Gateway already running (pid ${live.pid ?? 'unknown'}): its lock file ${lockFile} is unreadable (${unreadable.reason}), but ${live.how}. Use --force to kill existing process.`,
    supervised ? EXIT.ALREADY_RUNNING_SUPERVISED : EXIT.FAILURE,
  );
}

/**
 * Binds the configured host:port; on a conflict fails with the seed's message, or frees the
 * port with --force. `hostFrom` names where the host came from, for an address that does not resolve.
 */
export async function bindSocket(config: Config, force: boolean, logger: Logger, hostFrom = 'gateway.host'): Promise<ListenSocket> {
  const { host, port } = config.gateway;
  try {
    return await bindListenSocket(host, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL') {
      throw new CliError(`Invalid ${hostFrom}: "${host}" is not an address or a host name this machine can resolve (${code}); use an IP address such as 127.0.0.1 or 0.0.0.0`, EXIT.USAGE);
    }
    if (!(err instanceof BindError)) throw err;
    if (err.code === 'EADDRNOTAVAIL') throw new CliError(`Invalid ${hostFrom}: ${host} is not an address of this machine (EADDRNOTAVAIL)`, EXIT.USAGE);
    if (err.code !== 'EADDRINUSE') throw new CliError(`Cannot listen on ${host}:${port}: ${err.code}`);
    if (!force) throw new CliError(`Port ${port} is already in use. Use --force to kill existing process.`);
  }
  const owners = portOwners(port);
  logger.warn({ port, pids: owners }, '--force: stopping the processes listening on the port');
  await terminateProcesses(owners);
  if (!(await waitForPortFree(port))) throw new CliError(`Port ${port} is still in use after --force (pids ${portOwners(port).join(', ') || 'unknown'}).`);
  for (let attempt = 0; ; attempt++) {
    try {
      return await bindListenSocket(host, port);
    } catch (err) {
      if (!(err instanceof BindError) || err.code !== 'EADDRINUSE' || attempt >= 20) throw new CliError(`Port ${port} is still in use after --force.`);
      await sleep(100);
    }
  }
}

/**
 * Old versions kept a pid file; the lock replaced it. A file naming a live process means an
 * old-version gateway may still run (the lock cannot tell): stopping it is the user's call,
 * so the start stops here and says so, unless `force` (then only the file goes).
 */
export function removeLegacyPidFile(logger: Logger, force = false): void {
  const file = legacyPidFile();
  if (!existsSync(file)) return;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
    if (!force) {
      throw new CliError(`${file} names pid ${pid}, which is running: probably a gateway of an older xopc version. Stop it first (\`kill ${pid}\`), then start again; or start with --force to remove the file and go on.`);
    }
    logger.warn({ file, pid }, '--force: removing the legacy gateway.pid although its pid is running');
  }
  try {
    unlinkSync(file);
    logger.info({ file }, 'removed the legacy gateway.pid file of an older version');
  } catch (err) {
    logger.warn({ err, file }, 'could not remove the legacy gateway.pid file');
  }
}

/** One line for the terminal when the worker cannot start at all. */
export function describeFatal(message: string, port: number): string {
  if (/EADDRINUSE/.test(message)) return `Port ${port} is already in use. Use --force to kill existing process.`;
  return `Gateway worker failed to start: ${message}`;
}
