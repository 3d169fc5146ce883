import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { HANDOVER_ENV, LISTEN_FD_ENV, isMessage, type HandoverMessage } from '../src/ipc.js';
import { acquireLock, writeLockInfo, type LockInfo } from '../src/lock.js';
import type { Logger } from '../src/logger.js';
import { answerSecretsRequests, sendHandover, waitForHandover } from './handover.js';
import type { ListenSocket } from './listen-socket.js';
import type { SupervisorState } from './state.js';
import type { WorkerPool } from './worker-pool.js';

const HANDOVER_TIMEOUT_MS = 30_000;
const LOCK_CONFIRM_TIMEOUT_MS = 5000;
const LOCK_TAKE_ATTEMPTS = 50;
const LOCK_TAKE_INTERVAL_MS = 100;

export interface RespawnOptions {
  state: SupervisorState;
  logger: Logger;
  pool: WorkerPool;
  socket: ListenSocket;
  /** The command line to run again (without the token) and the environment to run it in. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** The `--token` this supervisor was started with, handed over by IPC rather than argv. */
  token: string | null;
  drainMs(): number;
  closeControl(): void;
  releaseLock(): void;
}

/**
 * The old supervisor's side of a respawn restart: start a new supervisor on the same
 * listening socket, wait until its worker serves, hand over the background services and
 * then the lock, drain. Resolves true once handed over (this supervisor should exit 0),
 * false when the new one failed and this one keeps serving.
 */
export function createRespawner(options: RespawnOptions) {
  const { state, logger, pool, socket } = options;
  // A new supervisor that has not taken over yet: a stop during the handover must not leave it running.
  let successor: ChildProcess | null = null;

  async function restart(): Promise<boolean> {
    const child = spawn(process.execPath, [...process.execArgv, ...options.argv], {
      detached: true,
      // stderr comes back to us until the handover, so a start-up failure (a config edited
      // into something invalid) is logged with its reason.
      stdio: ['ignore', 'ignore', 'pipe', socket.fd, 'ipc'],
      env: { ...options.env, [HANDOVER_ENV]: String(process.pid), [LISTEN_FD_ENV]: '3', XOPC_LISTEN_PORT: String(socket.port), XOPC_LISTEN_HOST: socket.host },
      cwd: process.cwd(),
    });
    const newPid = child.pid ?? -1;
    answerSecretsRequests(child, options.token);
    successor = child;
    let childStderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (childStderr = (childStderr + chunk.toString()).slice(-2000)));
    logger.info({ newPid }, 'restart: spawned a new supervisor');
    try {
      await waitForHandover(child, 'handover-ready', HANDOVER_TIMEOUT_MS);
    } catch (err) {
      logger.error({ err, newPid, stderr: childStderr.trim() || undefined }, 'restart failed: the new supervisor did not get ready; this one keeps serving');
      child.kill('SIGKILL');
      successor = null;
      return false;
    }
    await pool.stopBackground();
    sendHandover(child, { cmd: 'background-free' });
    state.phase = 'stopping';
    options.closeControl();
    await pool.stopAll(options.drainMs(), { forRestart: true });
    options.releaseLock();
    successor = null;
    sendHandover(child, { cmd: 'lock-released' });
    await waitForHandover(child, 'lock-taken', LOCK_CONFIRM_TIMEOUT_MS).catch((err: unknown) => logger.warn({ err, newPid }, 'new supervisor did not confirm the lock'));
    child.stderr?.destroy();
    child.disconnect();
    child.unref();
    logger.info({ newPid }, 'restart done: handed over to the new supervisor');
    return true;
  }

  /** A stop during a restart: ends the new supervisor too. */
  function abandon(): void {
    if (!successor) return;
    logger.warn({ newPid: successor.pid }, 'stop during a restart: ending the new supervisor too');
    successor.kill('SIGTERM');
    successor = null;
  }

  return { restart, abandon };
}

export interface TakeOverOptions {
  state: SupervisorState;
  logger: Logger;
  pool: WorkerPool;
  lockFile: string;
  lockInfo: LockInfo;
  /** Opens the control channel once the lock is ours. */
  openControl(): Promise<void>;
  /** Stops this supervisor: it could not take the lock. */
  fail(reason: string): void;
  /** This supervisor now holds something it waited for (the background services or the lock). */
  onOwnership(): void;
}

/**
 * The new supervisor's side of a respawn restart: takes the background services and the
 * lock when the old supervisor hands them over, or at once when it goes away without.
 */
export function takeOverFromPrevious(options: TakeOverOptions): void {
  const { state, logger, pool } = options;
  const takeBackground = () => {
    if (state.ownsBackground) return;
    state.ownsBackground = true;
    pool.current()?.send({ cmd: 'start-background' });
    options.onOwnership();
  };
  const takeLock = async (): Promise<boolean> => {
    for (let attempt = 0; attempt < LOCK_TAKE_ATTEMPTS; attempt++) {
      if (acquireLock(options.lockFile, options.lockInfo).ok) {
        state.ownsLock = true;
        writeLockInfo(options.lockFile, options.lockInfo);
        logger.info('lock taken over from the previous supervisor');
        await options.openControl();
        options.onOwnership();
        return true;
      }
      await sleep(LOCK_TAKE_INTERVAL_MS);
    }
    logger.fatal('could not take the lock from the previous supervisor: stopping');
    options.fail('lock handover failed');
    return false;
  };
  process.on('message', (message: unknown) => {
    if (!isMessage<HandoverMessage>(message)) return;
    if (message.cmd === 'background-free') takeBackground();
    else if (message.cmd === 'lock-released') {
      void takeLock().then((ok) => {
        if (ok && process.connected) process.send!({ cmd: 'lock-taken' } satisfies HandoverMessage);
        if (process.connected) process.disconnect();
      });
    }
  });
  process.on('disconnect', () => {
    // The old supervisor is gone: whatever it did not hand over, take now.
    takeBackground();
    if (!state.ownsLock && state.phase !== 'stopping') void takeLock();
  });
}

/** The new supervisor tells the old one its worker serves. */
export function announceHandoverReady(): void {
  if (process.connected) process.send!({ cmd: 'handover-ready', pid: process.pid } satisfies HandoverMessage);
}
