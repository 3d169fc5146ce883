import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Config } from '../src/config.js';
import { isMessage, type SupervisorToWorker, type WorkerOptions, type WorkerToSupervisor } from '../src/ipc.js';
import type { Logger } from '../src/logger.js';
import type { LogSink } from './log-sink.js';

/** online -> ready -> draining -> dead, as in Node's cluster; a standby waits in `standby` (loaded, not listening) until promoted. */
export type WorkerState = 'starting' | 'standby' | 'ready' | 'draining' | 'dead';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the supervisor asked for it (drain or kill), false for a crash. */
  deliberate: boolean;
  /** A message the worker reported as fatal before exiting (start-up failure that a respawn cannot fix). */
  fatal: string | null;
}

export interface WorkerProcess {
  readonly pid: number;
  /** The config it was started with. */
  readonly config: Config;
  state(): WorkerState;
  send(message: SupervisorToWorker): void;
  /** Resolves with the next message of this kind, rejects on exit or timeout. */
  waitFor<K extends WorkerToSupervisor['cmd']>(cmd: K, timeoutMs: number): Promise<Extract<WorkerToSupervisor, { cmd: K }>>;
  /** Asks for a graceful drain; SIGKILLs the worker if it is still alive a second after `timeoutMs`. */
  drain(timeoutMs: number, options?: { forRestart?: boolean }): Promise<WorkerExit>;
  /** SIGKILL now; deliberate unless told otherwise (a worker hung in start-up counts as a crash). */
  kill(options?: { deliberate?: boolean }): Promise<WorkerExit>;
  readonly exited: Promise<WorkerExit>;
  /** Every message of this kind the worker sends from now on. */
  on<K extends WorkerToSupervisor['cmd']>(cmd: K, handler: (message: Extract<WorkerToSupervisor, { cmd: K }>) => void): void;
}

// The worker script beside this file in dist/. XOPC_WORKER_SCRIPT replaces it for tests
// that need a worker that misbehaves (crashes at boot, never gets ready).
const DEFAULT_WORKER_SCRIPT = fileURLToPath(new URL('../worker/main.js', import.meta.url));
// After the drain bound, how long a worker may take to exit on its own before SIGKILL.
const KILL_GRACE_MS = 1000;
// The nice value of a worker draining for a restart: the worker that took over gets the
// CPU first, the old one finishes its requests with what is left.
const DRAINING_NICE = 10;

/**
 * The worker's environment: ours without the gateway token, which reaches the worker in
 * its config over IPC; anything the agent's tools spawn inherits this environment.
 */
function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.XOPC_GATEWAY_TOKEN;
  return copy;
}

/** Forks a worker on the listening socket; its options (config, secrets) go over IPC when it asks. */
export function spawnWorker(options: WorkerOptions, sink: LogSink, logger: Logger): WorkerProcess {
  const script = process.env.XOPC_WORKER_SCRIPT || DEFAULT_WORKER_SCRIPT;
  // fd 3 in the worker = the listening socket; fd 4 = IPC.
  const child: ChildProcess = spawn(process.execPath, [script], {
    stdio: ['ignore', 'pipe', 'pipe', options.listenFd, 'ipc'],
    env: workerEnv(process.env),
  });
  const pid = child.pid ?? -1;
  let state: WorkerState = 'starting';
  let deliberate = false;
  let fatal: string | null = null;
  const log = logger.child({ workerPid: pid });
  if (child.stdout) sink.attach(child.stdout, 'stdout', pid);
  if (child.stderr) sink.attach(child.stderr, 'stderr', pid);

  const exited = new Promise<WorkerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      state = 'dead';
      resolve({ code, signal, deliberate, fatal });
    });
  });
  child.on('error', (err) => log.error({ err }, 'worker process error'));
  child.on('message', (message: unknown) => {
    if (!isMessage<WorkerToSupervisor>(message)) return;
    if (message.cmd === 'options-request') send({ cmd: 'options', options: { ...options, listenFd: 3 } });
    if (message.cmd === 'ready') state = 'ready';
    if (message.cmd === 'standby-ready' && state === 'starting') state = 'standby';
    if (message.cmd === 'fatal') fatal = message.message;
  });

  function send(message: SupervisorToWorker): void {
    if (child.connected) child.send(message);
  }

  function waitFor<K extends WorkerToSupervisor['cmd']>(cmd: K, timeoutMs: number) {
    return new Promise<Extract<WorkerToSupervisor, { cmd: K }>>((resolve, reject) => {
      const onMessage = (message: unknown) => {
        if (isMessage<WorkerToSupervisor>(message) && message.cmd === cmd) {
          cleanup();
          resolve(message as Extract<WorkerToSupervisor, { cmd: K }>);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`worker ${pid} did not report "${cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
      };
      child.on('message', onMessage);
      void exited.then((exit) => {
        cleanup();
        reject(new Error(fatal ?? `worker ${pid} exited (code ${exit.code}, signal ${exit.signal}) before "${cmd}"`));
      });
    });
  }

  async function kill({ deliberate: isDeliberate = true } = {}): Promise<WorkerExit> {
    if (isDeliberate) deliberate = true;
    if (state !== 'dead') child.kill('SIGKILL');
    return exited;
  }

  async function drain(timeoutMs: number, { forRestart = false } = {}): Promise<WorkerExit> {
    deliberate = true;
    if (state === 'dead') return exited;
    state = 'draining';
    send({ cmd: 'drain', timeoutMs, forRestart });
    if (forRestart) {
      try {
        setPriority(pid, DRAINING_NICE);
      } catch {
        // Gone already, or not permitted: it drains at the normal priority.
      }
    }
    const timer = setTimeout(() => {
      log.warn({ timeoutMs }, 'worker still alive after the drain bound: killing it');
      child.kill('SIGKILL');
    }, timeoutMs + KILL_GRACE_MS);
    const exit = await exited;
    clearTimeout(timer);
    return exit;
  }

  function on<K extends WorkerToSupervisor['cmd']>(cmd: K, handler: (message: Extract<WorkerToSupervisor, { cmd: K }>) => void): void {
    child.on('message', (message: unknown) => {
      if (isMessage<WorkerToSupervisor>(message) && message.cmd === cmd) handler(message as Extract<WorkerToSupervisor, { cmd: K }>);
    });
  }

  return { pid, config: options.config, state: () => state, send, waitFor, drain, kill, exited, on };
}
