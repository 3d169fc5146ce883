import { loadConfig } from '../config.js';
import { readLock, removeStaleLock, removeUnreadableLock } from '../lock.js';
import { isRunning, signal, waitForExit } from '../proc.js';
import { CliError, EXIT } from '../cli-error.js';
import { resolveTarget, type Target, type TargetOptions } from './common.js';
import { findGatewayBehindUnreadableLock } from './unreadable-lock.js';
import { intOption } from './options.js';
import { deliver } from './deliver.js';
import { createOutput, withProgress, type Output } from './output.js';

export interface StopOptions extends TargetOptions {
  force?: boolean;
  timeout?: string | number;
  json?: boolean;
}

// After the drain bound: the worker's kill grace (1 s), releasing the lock, exiting.
const EXIT_GRACE_MS = 3000;
const MAX_DRAIN_MS = 600_000;

/**
 * `xopc gateway stop`: the gateway drains (for `--timeout` ms, passed to it over its control
 * channel, else its gateway.drainTimeoutMs) and exits; SIGKILL if it has not exited a few
 * seconds after that bound. `--force` kills at once.
 */
export async function stopGateway(options: StopOptions): Promise<number> {
  const requestedMs = intOption('timeout', options.timeout, 0, MAX_DRAIN_MS);
  const out = createOutput(options.json);
  const target = resolveTarget(options);
  const { lock } = target;
  if (lock.state === 'free') {
    out.done({ stopped: false, running: false, pid: null }, 'Gateway is not running.');
    return EXIT.OK;
  }
  if (lock.state === 'stale') {
    removeStaleLock(target.lockPath);
    out.done({ stopped: false, running: false, pid: lock.info?.pid ?? null, staleLockRemoved: lock.reason }, `Gateway is not running (removed a stale lock: ${lock.reason}).`);
    return EXIT.OK;
  }
  if (lock.state === 'unreadable') return stopBehindUnreadableLock(target, lock, options, (requestedMs ?? configuredDrain(target)) + EXIT_GRACE_MS);
  const { pid, workerPid, standbyPid } = lock.info;
  const drainMs = requestedMs ?? configuredDrain(target);
  const waitMs = drainMs + EXIT_GRACE_MS;
  const service = (lock.info as { service?: string | null }).service ?? null;
  if (service && !options.force) {
    const manager = await stopThroughManager(service, pid, waitMs, out);
    if (manager) {
      out.done({ stopped: true, pid, workerPid: workerPid ?? null, how: 'service-manager', manager: manager.kind, service: manager.serviceName }, `✅ Gateway stopped through ${manager.kind} (service ${manager.serviceName}, pid ${pid}).`);
      return EXIT.OK;
    }
  }
  if (service) out.note(`⚠️  This gateway runs under a service manager (${service}), which may start it again; stop it with the manager's own command.`);
  const started = Date.now();
  if (options.force) {
    signal(pid, 'SIGKILL');
    if (workerPid) signal(workerPid, 'SIGKILL');
    if (standbyPid) signal(standbyPid, 'SIGKILL');
  } else if (requestedMs !== undefined && lock.info.control) {
    // Only the control channel carries a drain bound; a signal means "your configured one".
    await deliver(target, lock.info, 'stop', 'control', requestedMs);
  } else {
    if (requestedMs !== undefined) out.note(`⚠️  This gateway has no control channel (an older version): it drains for its own gateway.drainTimeoutMs, not ${requestedMs} ms.`);
    await deliver(target, lock.info, 'stop');
  }
  let graceful = await withProgress(`waiting for the gateway (pid ${pid}) to finish its requests and exit`, () => waitForExit(pid, options.force ? 2000 : waitMs));
  if (!graceful) {
    out.note(`Gateway (pid ${pid}) did not stop within ${waitMs} ms: sending SIGKILL.`);
    signal(pid, 'SIGKILL');
    if (workerPid) signal(workerPid, 'SIGKILL');
    if (standbyPid) signal(standbyPid, 'SIGKILL');
    if (!(await waitForExit(pid, 2000))) throw new CliError(`Gateway (pid ${pid}) is still running after SIGKILL.`);
  }
  // A worker whose supervisor died exits by itself within a second; make sure.
  if (workerPid && isRunning(workerPid) && !(await waitForExit(workerPid, 2000))) signal(workerPid, 'SIGKILL');
  // After SIGKILL nobody removed the lock: it is stale now, clear it.
  if (!graceful || options.force) removeStaleLock(target.lockPath);
  const ms = Date.now() - started;
  const how = options.force ? 'killed' : graceful ? 'drained' : 'killed-after-timeout';
  const text = options.force ? `✅ Gateway killed (pid ${pid}).` : graceful ? `✅ Gateway stopped (pid ${pid}, ${ms} ms).` : `✅ Gateway killed after the timeout (pid ${pid}).`;
  out.done({ stopped: true, pid, workerPid: workerPid ?? null, how, ms, drainMs: options.force ? 0 : drainMs }, text);
  return EXIT.OK;
}

function configuredDrain(target: Target): number {
  try {
    return loadConfig(target.configPath).config.gateway.drainTimeoutMs;
  } catch {
    return 5000;
  }
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
async function stopThroughManager(service: string, pid: number, timeoutMs: number, out: Output): Promise<{ kind: string; serviceName: string } | null> {
  // Task Scheduler does not restart a clean exit: there the drained stop by control channel is right.
  if (service !== 'systemd' && service !== 'launchd') return null;
  const { createServiceManager, defaultManagerDeps } = await import('../service/index.js');
  let manager;
  try {
    manager = createServiceManager(process.platform, defaultManagerDeps());
  } catch {
    return null;
  }
  const result = await manager.stop();
  if (!result.ok) {
    out.note(`⚠️  Could not stop the ${manager.serviceName} service through ${manager.kind}: ${result.problem}`);
    return null;
  }
  if (!(await waitForExit(pid, timeoutMs))) return null;
  return { kind: manager.kind, serviceName: manager.serviceName };
}
