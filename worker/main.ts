import '../src/early-signals.js';
import { takeOverSignals } from '../src/early-signals.js';
import { createLogger, type Logger } from '../src/logger.js';
import { gatewayStateDir } from '../src/paths.js';
import { resolveLogFile } from '../src/log-file.js';
import { isMessage, type SupervisorStats, type SupervisorToWorker, type WorkerOptions, type WorkerToSupervisor } from '../src/ipc.js';
import { loadPiAi } from './agent/providers.js';
import { createApp, type GatewayApp } from './app.js';
import { createFeatures, type Features } from './features.js';
import { createDrainableServer, type DrainableServer } from './http-server.js';
import { createProxyTrust } from './http/client-address.js';
import { lazyRoutes } from './http/lazy-routes.js';
import { createPipeDestination } from './log-destination.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createLifecycleChecks, createReadiness } from './readiness.js';

// When the supervisor dies (even by SIGKILL) the IPC channel closes: a worker never
// outlives it. In-flight requests get this long to finish; nothing new is accepted.
const ORPHAN_EXIT_MS = 500;
// The supervisor answers `options-request` at once; this only bounds a broken channel.
const OPTIONS_TIMEOUT_MS = 10_000;

function send(message: WorkerToSupervisor): void {
  if (process.connected) process.send!(message);
}

/** The worker process: builds the app and its features, serves on the inherited socket, obeys the supervisor. */
async function main(): Promise<void> {
  if (!process.send) {
    console.error('xopc worker: start the gateway with `xopc gateway`; the worker is not run by hand.');
    process.exit(1);
  }
  let receiveOptions: (options: WorkerOptions) => void = () => {};
  const optionsReceived = new Promise<WorkerOptions>((resolve, reject) => {
    receiveOptions = resolve;
    setTimeout(() => reject(new Error(`no options from the supervisor within ${OPTIONS_TIMEOUT_MS} ms`)), OPTIONS_TIMEOUT_MS).unref();
  });
  const startedAt = Date.now();
  let logger: Logger | undefined;
  // Created first: the process-wide stdout 'error' listener must exist before any write,
  // or an EPIPE from a dead supervisor would be an uncaught exception.
  const destination = createPipeDestination();
  let features: Features | undefined;
  let http: DrainableServer | undefined;
  let backgroundRunning = false;
  let drainStarted = false;
  const readiness = createReadiness();
  const lifecycle = createLifecycleChecks(readiness);
  // Made once the options arrive (they say whether metrics are on).
  let metrics: Metrics | undefined;
  // Open-ended responses (the live log stream) end when the drain starts, not at its timeout.
  const draining = new AbortController();
  // A standby waits for this before it listens (see `serve`).
  let promote: () => void = () => {};
  let promotedAt = 0;
  const promoted = new Promise<void>((resolve) => {
    promote = () => {
      promotedAt = Date.now();
      resolve();
    };
  });

  async function drain(timeoutMs: number, forRestart = false): Promise<void> {
    if (drainStarted) return;
    drainStarted = true;
    lifecycle.draining();
    draining.abort();
    const deadline = Date.now() + timeoutMs;
    send({ cmd: 'draining', inFlight: http?.inFlight() ?? 0 });
    logger?.info({ inFlight: http?.inFlight() ?? 0, timeoutMs }, 'worker draining');
    // In a restart background services were handed over before; on a stop they wind down
    // while the HTTP requests drain.
    const [, cut] = await Promise.all([stopBackground(), http ? http.drain(timeoutMs, { keepIdle: forRestart }) : 0]);
    if (cut > 0) logger?.warn({ cut }, 'drain timed out: connections cut');
    await features?.close(deadline).catch((err: unknown) => logger?.error({ err }, 'closing features failed'));
    logger?.info('worker stopped');
    process.exit(0);
  }

  async function stopBackground(): Promise<void> {
    if (!backgroundRunning || !features) return;
    backgroundRunning = false;
    await features.stopBackground().catch((err: unknown) => logger?.error({ err }, 'stopping background services failed'));
  }

  const handlers: Record<SupervisorToWorker['cmd'], (message: any) => void | Promise<void>> = {
    options: (message: { options: WorkerOptions }) => receiveOptions(message.options),
    'start-background': async () => {
      if (backgroundRunning || drainStarted || !features) return;
      backgroundRunning = true;
      lifecycle.background('starting');
      const started = await features.startBackground().then(
        () => true,
        (err: unknown) => {
          logger?.error({ err }, 'starting background services failed');
          return false;
        },
      );
      lifecycle.background(started ? 'running' : 'failed');
      send({ cmd: 'background-started' });
    },
    'stop-background': async () => {
      await stopBackground();
      lifecycle.background('stopped');
      send({ cmd: 'background-stopped' });
    },
    'supervisor-stats': (message: { stats: SupervisorStats }) => metrics?.supervisorStats(message.stats),
    drain: (message: { timeoutMs: number; forRestart?: boolean }) => drain(message.timeoutMs, message.forRestart),
    serve: () => promote(),
  };
  process.on('message', (message: unknown) => {
    if (isMessage<SupervisorToWorker>(message)) void handlers[message.cmd]?.(message);
  });
  // Lines of the last tick reach the supervisor (or are dropped at once if it is gone).
  process.on('exit', () => destination.flushSync());
  const supervisorPid = process.ppid;
  // Re-parented (ppid changes at once when the supervisor dies) or the channel is closed.
  const supervisorGone = () => !process.connected || process.ppid !== supervisorPid;
  let orphaned = false;
  const onOrphaned = () => {
    if (orphaned) return;
    orphaned = true;
    // Our stdout is the dead supervisor's pipe: nothing can be logged any more.
    logger = undefined;
    // A backstop: in-flight requests get ORPHAN_EXIT_MS, a stuck close does not keep us.
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), ORPHAN_EXIT_MS).unref();
    void drain(ORPHAN_EXIT_MS);
  };
  process.on('disconnect', onOrphaned);
  // A safety net that does not depend on the 'disconnect' event being seen.
  setInterval(() => {
    if (supervisorGone()) onOrphaned();
  }, ORPHAN_EXIT_MS).unref();
  // The supervisor may have died while our modules were still loading, before this
  // listener existed: its 'disconnect' has already been emitted.
  if (!process.connected) onOrphaned();
  // Ctrl+C reaches the whole process group and systemd signals the whole cgroup: the
  // supervisor orders the drain, and a worker signalled on its own drains by itself.
  const drainOnSignal = () => void drain(5000);
  takeOverSignals({ SIGTERM: drainOnSignal, SIGINT: drainOnSignal, SIGHUP: drainOnSignal });

  send({ cmd: 'options-request' });
  let options: WorkerOptions;
  try {
    options = await optionsReceived;
  } catch (err) {
    console.error(`xopc worker: ${(err as Error).message}`);
    process.exit(1);
  }
  let app: GatewayApp;
  // A standby's "ready" counts from its promotion.
  let readyFrom = startedAt;
  let memoryTimer: NodeJS.Timeout | null = null;
  try {
    // Validated by the supervisor: the worker does not load the schema library (a faster start).
    const config = options.config;
    logger = createLogger('worker', config.logging.level, destination);
    metrics = createMetrics({ enabled: config.gateway.metrics?.enabled !== false });
    features = await createFeatures({ config, logger, stateDir: gatewayStateDir(options.configPath), metrics, readiness });
    const { channels } = features.services;
    const status = lazyRoutes(['/api/status'], async () => (await import('./routes/status.js')).createStatusRouter({
      config, startedAt, supervisorPid: process.ppid, host: options.host, port: options.port, channels: () => channels.list().map((channel) => channel.name),
    }));
    app = createApp({ config, logger, logFile: resolveLogFile(config.logging, options.configPath), startedAt, routers: [...features.routers, status], draining: draining.signal, storage: features.services.storage, metrics, readiness });
    const { gateway } = config;
    const log = logger;
    http = createDrainableServer(app.callback(), {
      headersTimeoutMs: gateway.headersTimeoutMs,
      requestTimeoutMs: gateway.requestTimeoutMs,
      idleTimeoutMs: gateway.idleTimeoutMs,
      maxConnections: gateway.maxConnections,
      maxConnectionsPerAddress: gateway.maxConnectionsPerAddress,
      exempt: createProxyTrust(gateway.trustedProxies),
      onCapReached: ({ address, open, scope }) =>
        log.warn({ address, open, scope }, scope === 'total' ? `gateway.maxConnections (${open}) reached: new connections are closed at once` : `${address} holds gateway.maxConnectionsPerAddress (${open}) connections: its new ones are closed at once`),
    });
  } catch (err) {
    return failStart(err);
  }
  if (options.standby) {
    // Everything a first request could wait for is loaded now; the socket stays untouched
    // (two workers accepting would both act on the same sessions) until the promotion. A
    // standby promoted while still loading listens at once and loads the rest meanwhile.
    const loaded = Promise.all([app.warm(), loadPiAi().catch(() => {})]);
    const first = await Promise.race([loaded.then(() => 'loaded' as const), promoted.then(() => 'promoted' as const)]);
    if (first === 'loaded') {
      logger.info({ ms: Date.now() - startedAt }, 'standby worker loaded: waiting to be promoted');
      await new Promise<void>((resolve) => destination.flush(() => resolve()));
      send({ cmd: 'standby-ready', pid: process.pid });
      // A waiting standby's memory is shown in /metrics (the memory guard ignores it until it serves).
      reportMemory({ now: true });
      await promoted;
    }
    readyFrom = promotedAt;
  } else if (options.warmFirst) {
    // Another worker serves meanwhile: this one's first connections need not wait for these modules.
    await app.warm();
  }
  try {
    await http.listen(options.listenFd);
    const address = http.server.address();
    // The socket must be the one the supervisor bound; anything else is a bug upstream.
    if (!address || typeof address === 'string' || address.port !== options.port) {
      throw new Error(`listen EADDRINUSE: inherited socket is not bound to port ${options.port}`);
    }
  } catch (err) {
    return failStart(err);
  }
  lifecycle.serving();
  logger.info({ ms: Date.now() - readyFrom, ...(options.standby ? { promoted: true } : {}) }, 'worker ready');
  // The start-up lines go down the log pipe before "ready" goes down the IPC channel, so
  // the supervisor's "gateway listening" that answers it is logged after them, not before.
  await new Promise<void>((resolve) => destination.flush(() => resolve()));
  send({ cmd: 'ready', pid: process.pid });
  reportMemory({ now: false });
  if (options.background) await handlers['start-background']({});

  /**
   * For the supervisor's memory guard, whether or not a limit is set now: a limit set in the
   * config file later applies to this worker without replacing it. One small IPC message
   * every few seconds (started once: a standby starts it while it waits, with a first report
   * at once so that /metrics shows it; a serving worker's first report comes after the
   * interval, once its background services have loaded).
   */
  function reportMemory({ now }: { now: boolean }): void {
    if (memoryTimer) return;
    const report = () => send({ cmd: 'memory', rssBytes: process.memoryUsage.rss() });
    if (now) report();
    memoryTimer = setInterval(report, options.config.gateway.worker.memoryCheckMs).unref();
  }

  /** Start-up failed in a way a new worker would not fix: say why, then exit. */
  function failStart(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    logger?.error({ err }, 'worker start-up failed');
    send({ cmd: 'fatal', message });
    // Let the message reach the supervisor before exiting.
    setTimeout(() => process.exit(1), 100);
  }
}

void main();
