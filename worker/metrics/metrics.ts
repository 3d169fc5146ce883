import type { SupervisorStats } from '../../src/ipc.js';
import { loadOnce } from '../http/lazy-routes.js';
import type { PromMetrics } from './prom-metrics.js';

/** One model call as the agent loop saw it. */
export interface ModelCallSample {
  provider: string;
  model: string;
  seconds: number;
  ok: boolean;
  inputTokens: number;
  outputTokens: number;
}

/**
 * What the worker's features record for GET /metrics. They call these methods and know
 * nothing of the metrics library; a disabled instance (`gateway.metrics.enabled: false`)
 * records nothing.
 */
export interface Metrics {
  readonly enabled: boolean;
  /** One answered request; `route` is the route template (`/api/sessions/:key`), never the raw path. */
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  agentTurn(agentId: string, result: 'ok' | 'error'): void;
  modelCall(sample: ModelCallSample): void;
  cronRun(result: 'ok' | 'error' | 'interrupted'): void;
  channelDelivery(channel: string, result: 'ok' | 'error'): void;
  /** Where the number of accepted async messages not yet answered is read at each scrape. */
  pendingMessages(read: () => number): void;
  /** The supervisor's latest numbers (sent over IPC every few seconds). */
  supervisorStats(stats: SupervisorStats): void;
  /** The Prometheus text exposition of everything recorded. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Loads the metrics library now (the worker does so after its first answer). */
  preload(): Promise<void>;
}

// Until the library has loaded (~60 ms, after the worker's first answer) observations
// wait here; past this many (a flood of requests in those first moments) they are dropped.
const MAX_QUEUED = 10_000;

/**
 * The worker's metrics. prom-client loads on first use, not at start-up: a worker that
 * replaces a crashed one serves sooner, and what happens before the load is replayed.
 */
export function createMetrics(options: { enabled: boolean }): Metrics {
  if (!options.enabled) return disabledMetrics();
  let loaded: PromMetrics | null = null;
  const queued: Array<(metrics: PromMetrics) => void> = [];
  let readPending: () => number = () => 0;
  let supervisor: SupervisorStats | null = null;
  const library = loadOnce(async () => {
    const { createPromMetrics } = await import('./prom-metrics.js');
    const metrics = createPromMetrics({ pendingMessages: () => readPending(), supervisor: () => supervisor });
    loaded = metrics;
    for (const apply of queued.splice(0)) apply(metrics);
    return metrics;
  });
  const record = (apply: (metrics: PromMetrics) => void): void => {
    if (loaded) apply(loaded);
    else if (queued.length < MAX_QUEUED) queued.push(apply);
  };
  return {
    enabled: true,
    httpRequest: (method, route, status, seconds) => record((m) => m.httpRequest(method, route, status, seconds)),
    agentTurn: (agentId, result) => record((m) => m.agentTurns.inc({ agent: agentId, result })),
    modelCall: (sample) => record((m) => m.modelCall(sample)),
    cronRun: (result) => record((m) => m.cronRuns.inc({ result })),
    channelDelivery: (channel, result) => record((m) => m.channelDeliveries.inc({ channel, result })),
    pendingMessages: (read) => void (readPending = read),
    supervisorStats: (stats) => void (supervisor = stats),
    async render() {
      return (await library.get()).render();
    },
    preload: library.preload,
  };
}

function disabledMetrics(): Metrics {
  const nothing = () => {};
  return {
    enabled: false,
    httpRequest: nothing,
    agentTurn: nothing,
    modelCall: nothing,
    cronRun: nothing,
    channelDelivery: nothing,
    pendingMessages: nothing,
    supervisorStats: nothing,
    render: () => Promise.reject(new Error('metrics are disabled (gateway.metrics.enabled is false)')),
    preload: () => Promise.resolve(),
  };
}

/** For code built without a metrics instance (tests, tools): records nothing. */
export const NO_METRICS: Metrics = disabledMetrics();
