import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config.js';
import { readLock, removeStaleLock, type LockInfo } from '../lock.js';
import { processInfo } from '../proc.js';
import { CliError, EXIT } from '../cli-error.js';
import { terminateProcesses } from '../../supervisor/port.js';
import { probeHealth, resolveTarget, type Target, type TargetOptions } from './common.js';
import { deliver } from './deliver.js';
import { createOutput, withProgress, type Output } from './output.js';

export interface RestartOptions extends TargetOptions {
  force?: boolean;
  json?: boolean;
}

/** What a running supervisor records about itself in the lock, beyond the SPEC's four fields. */
interface RunningInfo extends LockInfo {
  restart?: { allowed: boolean; mode: 'supervised' | 'in-process' | 'respawn' };
  service?: string | null;
  argv?: string[];
  execArgv?: string[];
  cwd?: string;
  /** Started with `--token`, which `argv` leaves out (it never reaches the lock file). */
  tokenFlag?: boolean;
}

// How long a restart may take to show: the old worker's drain plus a new start.
const VERIFY_EXTRA_MS = 15_000;
// Process names of the service managers that start a gateway again when it exits.
const SERVICE_MANAGERS = /^(systemd|launchd|runsv|supervise|s6-supervise|supervisord|svscan|procd|pm2.*)$/;

/** `xopc gateway restart`: SIGUSR1 and verify a new worker or supervisor serves; `--force` kills and starts again. */
export async function restartGateway(options: RestartOptions): Promise<number> {
  const out = createOutput(options.json);
  const target = resolveTarget(options);
  if (target.lock.state === 'unreadable') {
    throw new CliError(`The gateway lock ${target.lockPath} is unreadable (${target.lock.reason}); \`xopc gateway status\` looks for the gateway without it, and \`xopc gateway stop\` stops it.`);
  }
  if (target.lock.state !== 'held') {
    throw new CliError('Gateway is not running; start it with: xopc gateway', EXIT.NOT_RUNNING);
  }
  const before = target.lock.info as RunningInfo;
  const verifyMs = drainTimeout(target) + VERIFY_EXTRA_MS;
  if (options.force) return forceRestart(target, before, verifyMs, out);

  // Read before the signal: once the gateway exits, its parent is gone from view.
  const parent = parentOf(before.pid);
  await deliver(target, before, 'restart');
  if (before.restart && !before.restart.allowed) {
    throw new CliError(
      'The gateway ignored SIGUSR1: restarts by signal are disabled. Start it with XOPC_ALLOW_SIGUSR1_RESTART=1 in its environment (the service units set it), or use `xopc gateway restart --force`.',
    );
  }
  if (before.restart?.mode === 'supervised') return supervisedRestart(target, before, parent, verifyMs, out);
  const after = await withProgress(`waiting for a new worker to serve (pid ${before.pid})`, () => waitForNewInstance(target.lockPath, before, verifyMs));
  if (!after) throw new CliError(`No restart seen within ${verifyMs} ms (pid ${before.pid}, worker ${before.workerPid}); see \`xopc gateway logs\`.`);
  out.done(fields(before, after, 'signal'), describe(before, after));
  return EXIT.OK;
}

/**
 * Under a service manager the gateway exits and leaves the restart to it: say so at once,
 * and whether a manager is there to do it (the gateway's parent process), instead of waiting
 * for a restart nobody will make.
 */
async function supervisedRestart(target: Target, before: RunningInfo, parent: { pid: number; name: string } | null, verifyMs: number, out: Output): Promise<number> {
  const marker = before.service ?? 'a service manager';
  const managed = parent === null ? null : SERVICE_MANAGERS.test(parent.name);
  if (managed === false) {
    throw new CliError(
      `The gateway (pid ${before.pid}) runs with the service marker of ${marker}, so it drains and exits for its service manager to start it again; but its parent is ${parent!.name} (pid ${parent!.pid}), not a service manager, so nothing will. Start it again with: xopc gateway`,
    );
  }
  out.note(`ℹ️  The gateway (pid ${before.pid}) runs under ${marker}${parent ? ` (its parent: ${parent.name}, pid ${parent.pid})` : ''}: it exits and the manager starts a new one.`);
  const after = await withProgress(`waiting for ${parent?.name ?? marker} to start a new gateway`, () => waitForNewInstance(target.lockPath, before, verifyMs));
  if (!after) throw new CliError(`The gateway exited for ${marker} to restart it, but no new one serves after ${verifyMs} ms; see \`xopc gateway logs\` and the manager's status.`);
  out.done(fields(before, after, 'service-manager'), describe(before, after));
  return EXIT.OK;
}

async function forceRestart(target: Target, before: RunningInfo, verifyMs: number, out: Output): Promise<number> {
  if (before.tokenFlag && before.restart?.mode !== 'supervised' && !process.env.XOPC_GATEWAY_TOKEN) {
    // Before killing anything: the same command line without the token would come back with another one.
    throw new CliError('The gateway was started with --token, which is not recorded anywhere; run this with XOPC_GATEWAY_TOKEN set to that token (the new gateway inherits it), or stop it and start it again yourself.');
  }
  await terminateProcesses([before.pid, ...(before.workerPid ? [before.workerPid] : [])]);
  removeStaleLock(target.lockPath);
  if (before.restart?.mode !== 'supervised') {
    if (!before.argv?.length) throw new CliError('The gateway was stopped but its command line is unknown; start it again with: xopc gateway');
    // Same command line, detached from this terminal; its logs go to the log file.
    const child = spawn(process.execPath, [...(before.execArgv ?? []), ...before.argv], { cwd: before.cwd, detached: true, stdio: 'ignore' });
    child.unref();
  }
  const after = await withProgress('waiting for the new gateway to serve', () => waitForNewInstance(target.lockPath, before, verifyMs));
  if (!after) throw new CliError(`The gateway was killed but no new one is serving after ${verifyMs} ms; see \`xopc gateway logs\`.`);
  out.done(fields(before, after, 'force'), `✅ Gateway restarted (killed pid ${before.pid}; new pid ${after.pid}, worker ${after.workerPid}).`);
  return EXIT.OK;
}

/** Waits for a lock naming a different supervisor or worker that answers /health. */
async function waitForNewInstance(lockPath: string, before: RunningInfo, timeoutMs: number): Promise<RunningInfo | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(100);
    const lock = readLock(lockPath);
    if (lock.state !== 'held' || !lock.info.workerPid || !lock.info.port) continue;
    const info = lock.info as RunningInfo;
    if (info.pid === before.pid && info.workerPid === before.workerPid) continue;
    if (await probeHealth(info.host ?? '127.0.0.1', info.port!)) return info;
  }
  return null;
}

/** The parent process's pid and name, where /proc tells them. */
function parentOf(pid: number): { pid: number; name: string } | null {
  const ppid = processInfo(pid)?.ppid;
  if (!ppid) return null;
  try {
    return { pid: ppid, name: readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() };
  } catch {
    return null;
  }
}

function fields(before: RunningInfo, after: RunningInfo, how: 'signal' | 'service-manager' | 'force'): Record<string, unknown> {
  return { restarted: true, how, inPlace: after.pid === before.pid, before: { pid: before.pid, workerPid: before.workerPid ?? null }, after: { pid: after.pid, workerPid: after.workerPid ?? null } };
}

function describe(before: RunningInfo, after: RunningInfo): string {
  if (after.pid === before.pid) return `✅ Gateway restarted in place (pid ${after.pid}; worker ${before.workerPid} -> ${after.workerPid}).`;
  return `✅ Gateway restarted (pid ${before.pid} -> ${after.pid}, worker ${after.workerPid}).`;
}

function drainTimeout(target: Target): number {
  try {
    return loadConfig(target.configPath).config.gateway.drainTimeoutMs;
  } catch {
    return 5000;
  }
}
