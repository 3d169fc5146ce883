import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { takeOverSignals } from '../src/early-signals.js';
import { ensureToken, loadConfig, type ConfigFlags } from '../src/config.js';
import { EXIT } from '../src/cli-error.js';
import { HANDOVER_ENV, LISTEN_FD_ENV, isMessage, type HandoverMessage } from '../src/ipc.js';
import { acquireLock, lockInfoForSelf, releaseLock, writeLockInfo, type LockInfo } from '../src/lock.js';
import { createLogger } from '../src/logger.js';
import { createPrettyFormatter } from '../src/log-format.js';
import { lockPath as lockPathFor, stateDir } from '../src/paths.js';
import { formatMode, tightenPermissions } from '../src/permissions.js';
import { withoutTokenFlag } from '../src/secret-argv.js';
import { resolveLogFile } from '../src/log-file.js';
import { VERSION } from '../src/version.js';
import { createCrashPolicy } from './crash-policy.js';
import { answerSecretsRequests, requestSecrets, sendHandover, waitForHandover } from './handover.js';
import { adoptListenSocket, type ListenSocket } from './listen-socket.js';
import { createLogSink } from './log-sink.js';
import { isSupervised, restartAllowed, restartMode, serviceManagerName } from './restart-mode.js';
import { bindSocket, describeFatal, removeLegacyPidFile, takeLock } from './startup.js';
import { startControlServer, type ControlServer } from './control-server.js';
import { controlPath } from '../src/control.js';
import { spawnWorker, type WorkerExit, type WorkerProcess } from './worker-process.js';

export interface SupervisorOptions {
  configPath: string;
  flags: ConfigFlags;
  force: boolean;
}

// Bounded waits, named.
const WORKER_READY_TIMEOUT_MS = 30_000;
const BACKGROUND_STOP_TIMEOUT_MS = 10_000;
const HANDOVER_TIMEOUT_MS = 30_000;

type Phase = 'starting' | 'running' | 'restarting' | 'stopping';

/**
 * The supervisor: owns the lock, the signals and the listening socket, and keeps one
 * worker serving. Resolves with the process exit code. Imports nothing from worker/.
 */
export async function runSupervisor(options: SupervisorOptions): Promise<number> {
  const env = process.env;
  const handoverFrom = env[HANDOVER_ENV] ? Number(env[HANDOVER_ENV]) : null;
  const inheritedFd = env[LISTEN_FD_ENV] ? Number(env[LISTEN_FD_ENV]) : null;
  const inheritedPort = Number(env.XOPC_LISTEN_PORT ?? NaN);
  const inheritedHost = env.XOPC_LISTEN_HOST;
  // Our own children (workers, a respawned supervisor) must not inherit these.
  for (const key of [HANDOVER_ENV, LISTEN_FD_ENV, 'XOPC_LISTEN_PORT', 'XOPC_LISTEN_HOST']) delete env[key];

  let phase: Phase = 'starting';
  const signalsBeforeReady: Array<'stop' | 'now'> = [];
  let onStop: (sig: 'SIGTERM' | 'SIGINT') => void = (sig) => signalsBeforeReady.push(sig === 'SIGINT' && signalsBeforeReady.length > 0 ? 'now' : 'stop');
  let onRestart: () => void = () => {};
  let restartQueued = false;
  takeOverSignals({
    SIGTERM: () => onStop('SIGTERM'),
    SIGINT: () => onStop('SIGINT'),
    // The controlling terminal went away: stop as gracefully as for SIGTERM.
    SIGHUP: () => onStop('SIGTERM'),
    SIGUSR1: () => onRestart(),
  });

  // A respawned supervisor's command line has no --token (see secret-argv.ts): the old
  // supervisor hands it over before anything reads the config.
  const flags: ConfigFlags = { ...options.flags };
  if (handoverFrom !== null) {
    const secrets = await requestSecrets(HANDOVER_TIMEOUT_MS);
    if (secrets.token !== null) flags.token = secrets.token;
  }
  const loaded = ensureToken(loadConfig(options.configPath, flags));
  const config = loaded.config;
  // What new workers get. Re-read at every restart and crash respawn, so an edited config
  // takes effect (except host/port: the socket stays); an invalid edit fails the restart.
  let workerConfig = config;
  const reloadConfig = (): void => {
    const fresh = ensureToken(loadConfig(options.configPath, flags)).config;
    if (fresh.gateway.port !== config.gateway.port || fresh.gateway.host !== config.gateway.host) {
      logger.warn({ host: socket.host, port: socket.port }, 'gateway.host/port changed in the config: they take effect at the next full stop and start');
    }
    workerConfig = fresh;
  };
  // A respawned supervisor has no terminal. Under a service manager with no TTY the log
  // file is the log: copying it to stdout would fill launchd's never-rotated out files.
  const terminal = handoverFrom === null;
  const copyLogsToStdout = terminal && (Boolean(process.stdout.isTTY) || !isSupervised(env));
  let stdoutBroken = false;
  // The terminal may go away (ssh dropped, reader closed): keep running, stop writing to it.
  process.stdout.on('error', () => (stdoutBroken = true));
  process.stderr.on('error', () => {});
  const writeOut = (text: string) => {
    if (!stdoutBroken) process.stdout.write(text);
  };
  const format = createPrettyFormatter({ colorize: Boolean(process.stdout.isTTY) });
  const sink = createLogSink({
    file: resolveLogFile(config.logging, options.configPath),
    maxBytes: config.logging.maxSizeBytes,
    maxFiles: config.logging.maxFiles,
    terminal: copyLogsToStdout ? { write: writeOut, format } : undefined,
  });
  const logger = createLogger('supervisor', config.logging.level, sink);
  const lockFile = lockPathFor(options.configPath);
  const mode = restartMode(env);
  const drainMs = config.gateway.drainTimeoutMs;

  removeLegacyPidFile(logger);
  for (const finding of tightenPermissions({ configPath: options.configPath, stateDir: stateDir() })) {
    const context = { path: finding.path, mode: formatMode(finding.was), ...(finding.error ? { reason: finding.error } : {}) };
    if (finding.now !== null) logger.warn(context, `the ${finding.kind} was open to other users (${formatMode(finding.was)}); changed it to ${formatMode(finding.now)}`);
    else logger.warn(context, `the ${finding.kind} is open to other users (${formatMode(finding.was)}) and could not be changed: restrict it with chmod`);
  }

  // The command line a respawn or `restart --force` runs again, without the token.
  const respawnArgv = withoutTokenFlag(process.argv.slice(1)).argv;
  const startedWithToken = flags.token !== undefined;

  // 1. Lock and 2. socket: a handover inherits both from the previous supervisor.
  let socket: ListenSocket;
  let lockInfo: LockInfo;
  if (handoverFrom !== null && inheritedFd !== null) {
    socket = adoptListenSocket(inheritedFd, inheritedHost ?? config.gateway.host, inheritedPort);
    lockInfo = lockInfoForSelf(options.configPath);
    logger.info({ from: handoverFrom, port: socket.port }, 'respawned: taking over from the previous supervisor');
  } else {
    lockInfo = await takeLock(lockFile, options, config, logger);
    try {
      socket = await bindSocket(config, options.force, logger);
    } catch (err) {
      releaseLock(lockFile);
      throw err;
    }
  }
  let ownsLock = handoverFrom === null;

  Object.assign(lockInfo, {
    host: socket.host,
    port: socket.port,
    workerPid: null,
    version: VERSION,
    restart: { allowed: restartAllowed(env), mode },
    service: serviceManagerName(env),
    argv: respawnArgv,
    ...(startedWithToken ? { tokenFlag: true } : {}),
    execArgv: process.execArgv,
    cwd: process.cwd(),
  });
  const updateLock = (patch: Partial<LockInfo>) => {
    Object.assign(lockInfo, patch);
    if (ownsLock) writeLockInfo(lockFile, lockInfo);
  };
  if (ownsLock) writeLockInfo(lockFile, lockInfo);

  // The control channel (stop/restart without signals, e.g. on Windows) belongs to the
  // lock owner: a respawned supervisor opens it once the old one has closed it.
  let control: ControlServer | null = null;
  const openControl = async (): Promise<void> => {
    const path = controlPath(options.configPath);
    try {
      const server = await startControlServer(path, () => workerConfig.gateway.auth.token, { stop: () => onStop('SIGTERM'), restart: () => onRestart() }, logger);
      // A stop that came in while it opened has closed what there was to close.
      if (phase === 'stopping') return server.close();
      control = server;
      updateLock({ control: path });
    } catch (err) {
      logger.warn({ err, path }, 'control channel unavailable: stop and restart work by signal only');
    }
  };
  const closeControl = (): void => {
    control?.close();
    control = null;
  };

  // 3. Workers.
  const crashPolicy = createCrashPolicy();
  let current: WorkerProcess | null = null;
  const live = new Set<WorkerProcess>();
  let respawnTimer: NodeJS.Timeout | null = null;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  function startWorker(background: boolean): WorkerProcess {
    const worker = spawnWorker(
      { configPath: options.configPath, config: workerConfig, listenFd: socket.fd, background, port: socket.port, host: socket.host },
      sink,
      logger,
    );
    live.add(worker);
    void worker.exited.then((exit) => {
      live.delete(worker);
      onWorkerExit(worker, exit);
    });
    logger.info({ workerPid: worker.pid, background }, 'worker started');
    return worker;
  }

  function onWorkerExit(worker: WorkerProcess, exit: WorkerExit): void {
    if (exit.deliberate || worker !== current || phase === 'stopping') {
      logger.info({ workerPid: worker.pid, code: exit.code, signal: exit.signal }, 'worker exited');
      return;
    }
    current = null;
    updateLock({ workerPid: null });
    if (exit.fatal) {
      logger.fatal({ workerPid: worker.pid, reason: exit.fatal }, 'worker cannot start: giving up');
      if (terminal) process.stderr.write(`❌ ${describeFatal(exit.fatal, socket.port)}\n`);
      void shutdown(EXIT.FAILURE, 'worker start-up failed');
      return;
    }
    const delay = crashPolicy.onCrash();
    if (delay === null) {
      logger.fatal({ workerPid: worker.pid, code: exit.code, signal: exit.signal }, 'worker crashed too often: giving up so a service manager can take over');
      if (terminal) process.stderr.write('❌ Gateway worker keeps crashing; giving up (see `xopc gateway logs`).\n');
      void shutdown(EXIT.FAILURE, 'too many worker crashes');
      return;
    }
    logger.error({ workerPid: worker.pid, code: exit.code, signal: exit.signal, retryInMs: delay }, 'worker crashed: starting a new one');
    respawnTimer = setTimeout(() => {
      respawnTimer = null;
      // Stopping, or a restart put a new worker in place meanwhile.
      if (phase === 'stopping' || (current && current.state() !== 'dead')) return;
      try {
        reloadConfig();
      } catch (err) {
        logger.warn({ reason: (err as Error).message }, 'the config is invalid now: the new worker keeps the previous one');
      }
      void bringUp(startWorker(ownsBackground));
    }, delay);
  }

  // Whether this supervisor's worker may run background services now (a handover
  // child waits for the old supervisor to say its worker stopped them).
  let ownsBackground = handoverFrom === null;

  /** Waits for a worker's `ready`; one that hangs in start-up is killed and counts as a crash. */
  async function waitReady(worker: WorkerProcess): Promise<boolean> {
    try {
      await worker.waitFor('ready', WORKER_READY_TIMEOUT_MS);
    } catch (err) {
      if (worker.state() !== 'dead') {
        logger.error({ err, workerPid: worker.pid }, 'worker did not become ready: killing it');
        void worker.kill({ deliberate: false });
      }
      return false;
    }
    crashPolicy.onReady();
    return true;
  }

  /** Makes `worker` the current one at once (its crash is handled as such) and waits until it serves. */
  async function bringUp(worker: WorkerProcess): Promise<boolean> {
    current = worker;
    if (!(await waitReady(worker))) return false;
    updateLock({ workerPid: worker.pid });
    if (phase === 'starting') announceReady(worker);
    return true;
  }

  function announceReady(worker: WorkerProcess): void {
    phase = 'running';
    const url = `http://${socket.host === '0.0.0.0' || socket.host === '::' ? 'localhost' : socket.host}:${socket.port}`;
    logger.info({ url, workerPid: worker.pid }, 'gateway listening');
    if (terminal) writeOut(`✅ Gateway listening on ${url} (pid ${process.pid})\n`);
    if (handoverFrom !== null && process.connected) process.send!({ cmd: 'handover-ready', pid: process.pid } satisfies HandoverMessage);
  }

  let exitCode: number = EXIT.OK;
  // A new supervisor spawned by a respawn restart that has not taken over yet: a stop
  // during the handover must not leave it running.
  let pendingSuccessor: ChildProcess | null = null;
  async function shutdown(code: number, reason: string, immediately = false): Promise<void> {
    if (phase === 'stopping' && !immediately) return;
    phase = 'stopping';
    // A second Ctrl+C overrides the code of the graceful stop it cuts short.
    exitCode = code;
    if (respawnTimer) clearTimeout(respawnTimer);
    if (pendingSuccessor) {
      logger.warn({ newPid: pendingSuccessor.pid }, 'stop during a restart: ending the new supervisor too');
      pendingSuccessor.kill('SIGTERM');
      pendingSuccessor = null;
    }
    logger.info({ reason, drainTimeoutMs: immediately ? 0 : drainMs }, immediately ? 'stopping now' : 'stopping: draining');
    closeControl();
    await Promise.all([...live].map((worker) => (immediately ? worker.kill() : worker.drain(drainMs))));
    if (ownsLock) releaseLock(lockFile);
    ownsLock = false;
    logger.info({ code: exitCode }, 'gateway stopped');
    finish(exitCode);
  }

  async function restartInProcess(): Promise<void> {
    const old = current;
    // The new worker becomes current only once it serves: a new worker that cannot start
    // (say, a config edited into something invalid) fails the restart, not the gateway.
    try {
      reloadConfig();
    } catch (err) {
      logger.error({ reason: (err as Error).message }, 'restart failed: the config is invalid; the running worker keeps serving');
      return;
    }
    const next = startWorker(false);
    if (!(await waitReady(next))) {
      logger.error('restart failed: the new worker did not start; the old one keeps serving');
      return;
    }
    current = next;
    if (old && old.state() !== 'dead') {
      old.send({ cmd: 'stop-background' });
      await old.waitFor('background-stopped', BACKGROUND_STOP_TIMEOUT_MS).catch((err) => logger.warn({ err }, 'old worker did not confirm stopping background services'));
    }
    next.send({ cmd: 'start-background' });
    updateLock({ workerPid: next.pid });
    logger.info({ workerPid: next.pid }, 'restart done: new worker serving');
    // The old worker drains on its own time; the next restart need not wait for it.
    if (old) void old.drain(drainMs, { forRestart: true });
  }

  async function restartByRespawn(): Promise<boolean> {
    const child = spawn(process.execPath, [...process.execArgv, ...respawnArgv], {
      detached: true,
      // stderr comes back to us until the handover, so a start-up failure (a config edited
      // into something invalid) is logged with its reason.
      stdio: ['ignore', 'ignore', 'pipe', socket.fd, 'ipc'],
      env: { ...env, [HANDOVER_ENV]: String(process.pid), [LISTEN_FD_ENV]: '3', XOPC_LISTEN_PORT: String(socket.port), XOPC_LISTEN_HOST: socket.host },
      cwd: process.cwd(),
    });
    const newPid = child.pid ?? -1;
    answerSecretsRequests(child, flags.token ?? null);
    pendingSuccessor = child;
    let childStderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (childStderr = (childStderr + chunk.toString()).slice(-2000)));
    logger.info({ newPid }, 'restart: spawned a new supervisor');
    try {
      await waitForHandover(child, 'handover-ready', HANDOVER_TIMEOUT_MS);
    } catch (err) {
      logger.error({ err, newPid, stderr: childStderr.trim() || undefined }, 'restart failed: the new supervisor did not get ready; this one keeps serving');
      child.kill('SIGKILL');
      pendingSuccessor = null;
      return false;
    }
    const old = current;
    if (old && old.state() !== 'dead') {
      old.send({ cmd: 'stop-background' });
      await old.waitFor('background-stopped', BACKGROUND_STOP_TIMEOUT_MS).catch((err) => logger.warn({ err }, 'old worker did not confirm stopping background services'));
    }
    sendHandover(child, { cmd: 'background-free' });
    phase = 'stopping';
    closeControl();
    await Promise.all([...live].map((worker) => worker.drain(drainMs, { forRestart: true })));
    releaseLock(lockFile);
    ownsLock = false;
    pendingSuccessor = null;
    sendHandover(child, { cmd: 'lock-released' });
    await waitForHandover(child, 'lock-taken', 5000).catch((err: unknown) => logger.warn({ err, newPid }, 'new supervisor did not confirm the lock'));
    child.stderr?.destroy();
    child.disconnect();
    child.unref();
    logger.info({ newPid }, 'restart done: handed over to the new supervisor');
    finish(EXIT.OK);
    return true;
  }

  onStop = (sig) => {
    if (phase === 'stopping') {
      if (sig === 'SIGINT') void shutdown(130, 'second Ctrl+C', true);
      return;
    }
    void shutdown(EXIT.OK, sig);
  };
  onRestart = () => {
    if (!restartAllowed(env)) {
      logger.warn('SIGUSR1 received but restarts by signal are disabled: set XOPC_ALLOW_SIGUSR1_RESTART=1 in the gateway environment to enable them');
      return;
    }
    if (phase === 'restarting' && mode === 'in-process') {
      if (!restartQueued) logger.info('SIGUSR1 during a restart: one more restart will follow');
      restartQueued = true;
      return;
    }
    if (phase !== 'running' || !ownsLock) {
      logger.warn({ phase }, 'SIGUSR1 received while not running steadily: ignored');
      return;
    }
    logger.info({ mode }, 'SIGUSR1: restarting');
    if (mode === 'supervised') {
      void shutdown(EXIT.OK, 'restart under a service manager: exiting so it starts a fresh gateway');
      return;
    }
    phase = 'restarting';
    const done = mode === 'in-process' ? restartInProcess().then(() => true) : restartByRespawn();
    void done
      .catch((err) => {
        logger.error({ err }, 'restart failed');
        return false;
      })
      .then((handedOver) => {
        if (!handedOver || mode === 'in-process') {
          if (phase === 'restarting') phase = 'running';
        }
        if (restartQueued && phase === 'running') {
          restartQueued = false;
          onRestart();
        }
      });
  };

  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'supervisor crashed');
    for (const worker of live) void worker.kill();
    if (ownsLock) releaseLock(lockFile);
    process.exit(EXIT.FAILURE);
  });

  // Go.
  if (handoverFrom !== null) {
    setUpHandoverChild();
  }
  // A stop signal that arrived while we were taking the lock and binding wins.
  const early = signalsBeforeReady.splice(0);
  if (early.length > 0) void shutdown(early.includes('now') ? 130 : EXIT.OK, 'signal during start-up', early.includes('now'));
  else void bringUp(startWorker(ownsBackground));
  // After the worker is on its way: its start-up is the longer wait.
  if (ownsLock) await openControl();

  const code = await finished;
  sink.close();
  socket.close();
  return code;

  function setUpHandoverChild(): void {
    const takeLockFromOld = async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        const result = acquireLock(lockFile, lockInfo);
        if (result.ok) {
          ownsLock = true;
          writeLockInfo(lockFile, lockInfo);
          logger.info('lock taken over from the previous supervisor');
          await openControl();
          return true;
        }
        await sleep(100);
      }
      logger.fatal('could not take the lock from the previous supervisor: stopping');
      void shutdown(EXIT.FAILURE, 'lock handover failed');
      return false;
    };
    process.on('message', (message: unknown) => {
      if (!isMessage<HandoverMessage>(message)) return;
      if (message.cmd === 'background-free') {
        ownsBackground = true;
        current?.send({ cmd: 'start-background' });
      } else if (message.cmd === 'lock-released') {
        void takeLockFromOld().then((ok) => {
          if (ok && process.connected) process.send!({ cmd: 'lock-taken' } satisfies HandoverMessage);
          if (process.connected) process.disconnect();
        });
      }
    });
    process.on('disconnect', () => {
      // The old supervisor is gone: whatever it did not hand over, take now.
      if (!ownsBackground) {
        ownsBackground = true;
        current?.send({ cmd: 'start-background' });
      }
      if (!ownsLock && phase !== 'stopping') void takeLockFromOld();
    });
  }
}
