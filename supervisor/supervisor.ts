import { takeOverSignals } from '../src/early-signals.js';
import { ensureToken, loadConfig, type ConfigFlags } from '../src/config.js';
import { EXIT } from '../src/cli-error.js';
import { HANDOVER_ENV, LISTEN_FD_ENV } from '../src/ipc.js';
import { lockInfoForSelf, releaseLock, writeLockInfo, type LockInfo } from '../src/lock.js';
import { createLogger } from '../src/logger.js';
import { createPrettyFormatter } from '../src/log-format.js';
import { lockPath as lockPathFor, stateDir } from '../src/paths.js';
import { formatMode, tightenPermissions } from '../src/permissions.js';
import { withoutTokenFlag } from '../src/secret-argv.js';
import { resolveLogFile } from '../src/log-file.js';
import { VERSION } from '../src/version.js';
import { controlPath } from '../src/control.js';
import { createConfigSource, type ConfigChange } from './config-source.js';
import { createCrashPolicy } from './crash-policy.js';
import { requestSecrets } from './handover.js';
import { adoptListenSocket, type ListenSocket } from './listen-socket.js';
import { createLogSink } from './log-sink.js';
import { createMemoryGuard } from './memory-guard.js';
import { announceHandoverReady, createRespawner, takeOverFromPrevious } from './respawn-restart.js';
import { isSupervised, restartAllowed, restartMode, serviceManagerName } from './restart-mode.js';
import { bindSocket, describeFatal, removeLegacyPidFile, takeLock } from './startup.js';
import { startControlServer, type ControlServer } from './control-server.js';
import type { SupervisorState } from './state.js';
import { createStatsReporter } from './stats-reporter.js';
import { createWorkerPool } from './worker-pool.js';
import { spawnWorker, type WorkerProcess } from './worker-process.js';

export interface SupervisorOptions {
  configPath: string;
  flags: ConfigFlags;
  force: boolean;
}

const HANDOVER_TIMEOUT_MS = 30_000;

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

  const state: SupervisorState = { phase: 'starting', ownsLock: handoverFrom === null, ownsBackground: handoverFrom === null };
  const signalsBeforeReady: Array<'stop' | 'now'> = [];
  let onStop: (sig: 'SIGTERM' | 'SIGINT', drainOverrideMs?: number) => void = (sig) => signalsBeforeReady.push(sig === 'SIGINT' && signalsBeforeReady.length > 0 ? 'now' : 'stop');
  let onRestart: () => void = () => {};
  let stopWatching: () => void = () => {};
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
  const config = ensureToken(loadConfig(options.configPath, flags)).config;
  // What new workers get: re-read at every restart and crash respawn, and when the file changes.
  const configSource = createConfigSource(options.configPath, flags, config);
  const reloadConfig = (): void => {
    const change = configSource.reload();
    if (change.needsFullRestart.length > 0) warnFullRestart(change.needsFullRestart);
  };
  const warnFullRestart = (keys: string[]) =>
    logger.warn({ keys, host: socket.host, port: socket.port }, `${keys.join(', ')} changed in the config: the supervisor's socket and log file keep their settings until a full stop and start`);

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
  const drainMs = () => configSource.get().gateway.drainTimeoutMs;

  if (handoverFrom === null) removeLegacyPidFile(logger, options.force);
  for (const finding of tightenPermissions({ configPath: options.configPath, stateDir: stateDir() })) {
    const context = { path: finding.path, mode: formatMode(finding.was), ...(finding.error ? { reason: finding.error } : {}) };
    if (finding.now !== null) logger.warn(context, `the ${finding.kind} was open to other users (${formatMode(finding.was)}); changed it to ${formatMode(finding.now)}`);
    else logger.warn(context, `the ${finding.kind} is open to other users (${formatMode(finding.was)}) and could not be changed: restrict it with chmod`);
  }

  // The command line a respawn or `restart --force` runs again, without the token.
  const respawnArgv = withoutTokenFlag(process.argv.slice(1)).argv;

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
      socket = await bindSocket(config, options.force, logger, options.flags.host !== undefined ? '--host' : `gateway.host in ${options.configPath}`);
    } catch (err) {
      releaseLock(lockFile);
      throw err;
    }
  }

  Object.assign(lockInfo, {
    host: socket.host,
    port: socket.port,
    workerPid: null,
    version: VERSION,
    restart: { allowed: restartAllowed(env), mode },
    service: serviceManagerName(env),
    argv: respawnArgv,
    ...(flags.token !== undefined ? { tokenFlag: true } : {}),
    execArgv: process.execArgv,
    cwd: process.cwd(),
  });
  const updateLock = (patch: Partial<LockInfo>) => {
    Object.assign(lockInfo, patch);
    if (state.ownsLock) writeLockInfo(lockFile, lockInfo);
  };
  if (state.ownsLock) writeLockInfo(lockFile, lockInfo);
  const giveUpLock = () => {
    if (state.ownsLock) releaseLock(lockFile);
    state.ownsLock = false;
  };

  // The control channel (stop/restart without signals, e.g. on Windows) belongs to the
  // lock owner: a respawned supervisor opens it once the old one has closed it.
  let control: ControlServer | null = null;
  const openControl = async (): Promise<void> => {
    const path = controlPath(options.configPath);
    try {
      const server = await startControlServer(path, () => configSource.get().gateway.auth.token, { stop: (request) => onStop('SIGTERM', request.drainMs), restart: () => onRestart() }, logger);
      // A stop that came in while it opened has closed what there was to close.
      if (state.phase === 'stopping') return server.close();
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
  const stats = createStatsReporter(crashPolicy, () => pool.live());
  const guard = createMemoryGuard(() => {
    const { maxRssMb, maxAgeHours } = configSource.get().gateway.worker;
    return { maxRssBytes: maxRssMb === null ? null : maxRssMb * 1024 * 1024, maxAgeMs: maxAgeHours === null ? null : maxAgeHours * 3_600_000 };
  });
  const pool = createWorkerPool({
    state,
    logger,
    crashPolicy,
    stats,
    guard,
    fork: (start) =>
      spawnWorker({ configPath: options.configPath, config: configSource.get(), listenFd: socket.fd, ...start, port: socket.port, host: socket.host }, sink, logger),
    config: () => configSource.get(),
    onStandby: (worker) => updateLock({ standbyPid: worker?.pid ?? null }),
    reloadConfig,
    drainMs,
    onServing: (worker) => {
      updateLock({ workerPid: worker?.pid ?? null });
      if (worker && state.phase === 'starting') announceReady(worker);
    },
    giveUp: (reason, detail) => {
      if (terminal) process.stderr.write(detail.fatal ? `❌ ${describeFatal(detail.fatal, socket.port)}\n` : '❌ Gateway worker keeps crashing; giving up (see `xopc gateway logs`).\n');
      void shutdown(EXIT.FAILURE, reason);
    },
    recycle: () => requestSwap('memory'),
  });
  const respawner = createRespawner({ state, logger, pool, socket, argv: respawnArgv, env, token: flags.token ?? null, drainMs, closeControl, releaseLock: giveUpLock });

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  function announceReady(worker: WorkerProcess): void {
    state.phase = 'running';
    const url = `http://${socket.host === '0.0.0.0' || socket.host === '::' ? 'localhost' : socket.host}:${socket.port}`;
    logger.info({ url, workerPid: worker.pid }, 'gateway listening');
    if (terminal) writeOut(`✅ Gateway listening on ${url} (pid ${process.pid})\n`);
    if (handoverFrom !== null) announceHandoverReady();
    runQueued();
  }

  let exitCode: number = EXIT.OK;
  let stopped = false;
  async function shutdown(code: number, reason: string, immediately = false, drainOverrideMs?: number): Promise<void> {
    if (state.phase === 'stopping' && !immediately) return;
    state.phase = 'stopping';
    // A second Ctrl+C overrides the code of the graceful stop it cuts short.
    exitCode = code;
    respawner.abandon();
    stopWatching();
    // `xopc gateway stop --timeout` asks for its own drain bound.
    const drainFor = drainOverrideMs ?? drainMs();
    logger.info({ reason, drainTimeoutMs: immediately ? 0 : drainFor }, immediately ? 'stopping now' : 'stopping: draining');
    closeControl();
    await pool.stopAll(drainFor, { immediately });
    giveUpLock();
    // A second Ctrl+C runs this again while the first drain is under way: one line, one exit.
    if (stopped) return;
    stopped = true;
    logger.info({ code: exitCode }, 'gateway stopped');
    finish(exitCode);
  }

  // One restart at a time. What is asked for during one (or before the gateway serves,
  // or while a respawned supervisor takes over) runs once it is done.
  let queued: (() => void) | null = null;
  const steady = () => state.phase === 'running' && state.ownsLock && state.ownsBackground;
  function runQueued(): void {
    const next = queued;
    queued = null;
    if (next && steady()) next();
    else queued = next;
  }
  function runRestart(work: () => Promise<boolean>): void {
    state.phase = 'restarting';
    void work()
      .catch((err) => {
        logger.error({ err }, 'restart failed');
        return false;
      })
      .then((handedOver) => {
        if (handedOver) return finish(EXIT.OK);
        if (state.phase === 'restarting') state.phase = 'running';
        runQueued();
      });
  }

  /** Replaces the worker in place (the memory guard, a config change), whatever the restart mode. */
  function requestSwap(reason: 'memory' | 'config'): void {
    if (state.phase === 'stopping') return;
    if (!steady()) {
      queued ??= () => requestSwap(reason);
      return;
    }
    runRestart(() => pool.swap().then(() => false));
  }

  onStop = (sig, drainOverrideMs) => {
    if (state.phase === 'stopping') {
      if (sig === 'SIGINT') void shutdown(130, 'second Ctrl+C', true);
      return;
    }
    void shutdown(EXIT.OK, drainOverrideMs === undefined ? sig : 'stop requested on the control channel', false, drainOverrideMs);
  };
  onRestart = () => {
    if (!restartAllowed(env)) {
      logger.warn('SIGUSR1 received but restarts by signal are disabled: set XOPC_ALLOW_SIGUSR1_RESTART=1 in the gateway environment to enable them');
      return;
    }
    if (state.phase === 'restarting' && mode === 'in-process') {
      if (queued !== onRestart) logger.info('SIGUSR1 during a restart: one more restart will follow');
      queued = onRestart;
      return;
    }
    if (state.phase !== 'running' || !state.ownsLock) {
      logger.warn({ phase: state.phase }, 'SIGUSR1 received while not running steadily: ignored');
      return;
    }
    logger.info({ mode }, 'SIGUSR1: restarting');
    if (mode === 'supervised') {
      void shutdown(EXIT.OK, 'restart under a service manager: exiting so it starts a fresh gateway');
      return;
    }
    runRestart(mode === 'in-process' ? () => pool.swap().then(() => false) : respawner.restart);
  };

  /** An edit of the config file: a valid one is applied by a worker swap, an invalid one refused. */
  function onConfigChange(change: ConfigChange): void {
    if (change.kind === 'invalid') {
      logger.error({ path: options.configPath }, `config change refused: ${change.message}; the gateway keeps its last valid config`);
      return;
    }
    logger.level = change.config.logging.level;
    if (change.needsFullRestart.length > 0) warnFullRestart(change.needsFullRestart);
    if (change.live.length > 0) logger.info({ keys: change.live }, 'config changed: the memory guard applies it at once');
    if (change.forWorkers.length === 0) return;
    logger.info({ keys: change.forWorkers }, 'config changed: replacing the worker to apply it');
    requestSwap('config');
  }

  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'supervisor crashed');
    for (const worker of pool.live()) void worker.kill();
    if (state.ownsLock) releaseLock(lockFile);
    process.exit(EXIT.FAILURE);
  });

  // Go.
  if (handoverFrom !== null) {
    takeOverFromPrevious({ state, logger, pool, lockFile, lockInfo, openControl, fail: (reason) => void shutdown(EXIT.FAILURE, reason), onOwnership: runQueued });
  }
  // A stop signal that arrived while we were taking the lock and binding wins.
  const early = signalsBeforeReady.splice(0);
  if (early.length > 0) void shutdown(early.includes('now') ? 130 : EXIT.OK, 'signal during start-up', early.includes('now'));
  else {
    void pool.startServing();
    stopWatching = configSource.watch(onConfigChange);
  }
  // After the worker is on its way: its start-up is the longer wait.
  if (state.ownsLock) await openControl();

  const code = await finished;
  stopWatching();
  stats.stop();
  sink.close();
  socket.close();
  return code;
}
