import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../config.js';
import { readLock, removeStaleLock, type LockInfo } from '../lock.js';
import { CliError, EXIT } from '../cli-error.js';
import { terminateProcesses } from '../../supervisor/port.js';
import { probeHealth, resolveTarget, type Target, type TargetOptions } from './common.js';
import { deliver } from './deliver.js';

export interface RestartOptions extends TargetOptions {
  force?: boolean;
}

/** What a running supervisor records about itself in the lock, beyond the SPEC's four fields. */
interface RunningInfo extends LockInfo {
  restart?: { allowed: boolean; mode: 'supervised' | 'in-process' | 'respawn' };
  argv?: string[];
  execArgv?: string[];
  cwd?: string;
  /** Started with `--token`, which `argv` leaves out (it never reaches the lock file). */
  tokenFlag?: boolean;
}

// How long a restart may take to show: the old worker's drain plus a new start.
const VERIFY_EXTRA_MS = 15_000;

/** `xopc gateway restart`: SIGUSR1 and verify a new worker or supervisor serves; `--force` kills and starts again. */
export async function restartGateway(options: RestartOptions): Promise<number> {
  const target = resolveTarget(options);
  if (target.lock.state !== 'held') {
    throw new CliError('Gateway is not running; start it with: xopc gateway', EXIT.NOT_RUNNING);
  }
  const before = target.lock.info as RunningInfo;
  const verifyMs = drainTimeout(target) + VERIFY_EXTRA_MS;
  if (options.force) return forceRestart(target, before, verifyMs);

  await deliver(target, before, 'restart');
  if (before.restart && !before.restart.allowed) {
    throw new CliError(
      'The gateway ignored SIGUSR1: restarts by signal are disabled. Start it with XOPC_ALLOW_SIGUSR1_RESTART=1 in its environment (the service units set it), or use `xopc gateway restart --force`.',
    );
  }
  const after = await waitForNewInstance(target.lockPath, before, verifyMs);
  if (!after) throw new CliError(`No restart seen within ${verifyMs} ms (pid ${before.pid}, worker ${before.workerPid}); see \`xopc gateway logs\`.`);
  console.log(describe(before, after));
  return EXIT.OK;
}

async function forceRestart(target: Target, before: RunningInfo, verifyMs: number): Promise<number> {
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
  const after = await waitForNewInstance(target.lockPath, before, verifyMs);
  if (!after) throw new CliError(`The gateway was killed but no new one is serving after ${verifyMs} ms; see \`xopc gateway logs\`.`);
  console.log(`✅ Gateway restarted (killed pid ${before.pid}; new pid ${after.pid}, worker ${after.workerPid}).`);
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
