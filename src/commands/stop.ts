import { readLock, removeStaleLock, removeUnreadableLock } from '../lock.js';
import { isRunning, signal, waitForExit } from '../proc.js';
import { CliError, EXIT } from '../cli-error.js';
import { resolveTarget, type Target, type TargetOptions } from './common.js';
import { findGatewayBehindUnreadableLock } from './unreadable-lock.js';
import { intOption } from './options.js';
import { deliver } from './deliver.js';

export interface StopOptions extends TargetOptions {
  force?: boolean;
  timeout?: string | number;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** `xopc gateway stop`: SIGTERM and wait (default 5 s), then SIGKILL; `--force` kills at once. */
export async function stopGateway(options: StopOptions): Promise<number> {
  const timeoutMs = intOption('timeout', options.timeout, 0, 3_600_000) ?? DEFAULT_TIMEOUT_MS;
  const target = resolveTarget(options);
  const { lock } = target;
  if (lock.state === 'free') {
    console.log('Gateway is not running.');
    return EXIT.OK;
  }
  if (lock.state === 'stale') {
    removeStaleLock(target.lockPath);
    console.log(`Gateway is not running (removed a stale lock: ${lock.reason}).`);
    return EXIT.OK;
  }
  if (lock.state === 'unreadable') return stopBehindUnreadableLock(target, lock, options, timeoutMs);
  const { pid, workerPid } = lock.info;
  const service = (lock.info as { service?: string | null }).service ?? null;
  if (service && !options.force && (await stopThroughManager(service, pid, timeoutMs))) return EXIT.OK;
  if (service) console.log(`⚠️  This gateway runs under a service manager (${service}), which may start it again; stop it with the manager's own command.`);
  const started = Date.now();
  if (options.force) {
    signal(pid, 'SIGKILL');
    if (workerPid) signal(workerPid, 'SIGKILL');
  } else {
    await deliver(target, lock.info, 'stop');
  }
  let graceful = await waitForExit(pid, options.force ? 2000 : timeoutMs);
  if (!graceful) {
    console.log(`Gateway (pid ${pid}) did not stop within ${timeoutMs} ms: sending SIGKILL.`);
    signal(pid, 'SIGKILL');
    if (workerPid) signal(workerPid, 'SIGKILL');
    graceful = false;
    if (!(await waitForExit(pid, 2000))) throw new CliError(`Gateway (pid ${pid}) is still running after SIGKILL.`);
  }
  // A worker whose supervisor died exits by itself within a second; make sure.
  if (workerPid && isRunning(workerPid) && !(await waitForExit(workerPid, 2000))) signal(workerPid, 'SIGKILL');
  // After SIGKILL nobody removed the lock: it is stale now, clear it.
  if (!graceful || options.force) removeStaleLock(target.lockPath);
  const ms = Date.now() - started;
  console.log(options.force ? `✅ Gateway killed (pid ${pid}).` : graceful ? `✅ Gateway stopped (pid ${pid}, ${ms} ms).` : `✅ Gateway killed after the timeout (pid ${pid}).`);
  return EXIT.OK;
}

/**
 * The lock cannot be read: the gateway is found without it, stopped by its pid, and the
 * lock removed only once no gateway of this config is left.
 */
async function stopBehindUnreadableLock(target: Target, lock: { reason: string; raw: string }, options: StopOptions, timeoutMs: number): Promise<number> {
  const live = await findGatewayBehindUnreadableLock(target);
  if (!live) {
    removeUnreadableLock(target.lockPath, lock.raw);
    console.log(`Gateway is not running (removed an unreadable lock: ${lock.reason}; no gateway of this config was found).`);
    return EXIT.OK;
  }
  if (!live.pid) throw new CliError(`The gateway lock is unreadable (${lock.reason}) and ${live.how}, but its process cannot be told; stop it by hand.`);
  const pid = live.pid;
  console.log(`⚠️  The gateway lock is unreadable (${lock.reason}); found the gateway because ${live.how}.`);
  signal(pid, options.force ? 'SIGKILL' : 'SIGTERM');
  let graceful = !options.force && (await waitForExit(pid, timeoutMs));
  if (!graceful) {
    signal(pid, 'SIGKILL');
    if (!(await waitForExit(pid, 2000))) throw new CliError(`Gateway (pid ${pid}) is still running after SIGKILL.`);
  }
  // Its worker follows it within a second; the lock goes once nothing of this config is left.
  const leftover = await findGatewayBehindUnreadableLock(target);
  const current = readLock(target.lockPath);
  if (!leftover && current.state === 'unreadable') removeUnreadableLock(target.lockPath, current.raw);
  console.log(graceful ? `✅ Gateway stopped (pid ${pid}).` : `✅ Gateway killed (pid ${pid}).`);
  return EXIT.OK;
}

/**
 * A gateway under our installed systemd/launchd/Task Scheduler service is stopped through
 * the manager: a plain SIGTERM would be undone by Restart=always / KeepAlive.
 */
async function stopThroughManager(service: string, pid: number, timeoutMs: number): Promise<boolean> {
  // Task Scheduler does not restart a clean exit: there the drained stop by control channel is right.
  if (service !== 'systemd' && service !== 'launchd') return false;
  const { createServiceManager, defaultManagerDeps } = await import('../service/index.js');
  let manager;
  try {
    manager = createServiceManager(process.platform, defaultManagerDeps());
  } catch {
    return false;
  }
  const result = await manager.stop();
  if (!result.ok) {
    console.log(`⚠️  Could not stop the ${manager.serviceName} service through ${manager.kind}: ${result.problem}`);
    return false;
  }
  if (!(await waitForExit(pid, timeoutMs + 2000))) return false;
  console.log(`✅ Gateway stopped through ${manager.kind} (service ${manager.serviceName}, pid ${pid}).`);
  return true;
}
