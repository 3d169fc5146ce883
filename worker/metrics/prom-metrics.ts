import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SupervisorStats } from '../../src/ipc.js';
import { createProcessSampler } from '../../src/process-stats.js';
import type { ModelCallSample } from './metrics.js';

// Seconds. HTTP answers are mostly sub-millisecond (/health) to seconds (an agent turn);
// model calls take from a fraction of a second to minutes.
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const MODEL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

// Node's HTTP parser accepts only known methods; anything else would still be a fresh label value.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

interface HttpSeries {
  count: Counter.Internal;
  /** Requests not yet added to `count`: the counter is brought up to date at each scrape, which halves the per-request cost. */
  uncounted: number;
  duration: Histogram.Internal<'method' | 'route' | 'status'>;
}

export interface PromMetricsSources {
  pendingMessages(): number;
  supervisor(): SupervisorStats | null;
}

/** The metric families of the gateway in their own prom-client registry (nothing global). */
export function createPromMetrics(sources: PromMetricsSources) {
  const registry = new Registry();
  const registers = [registry];
  // One child per label set, so the per-request path is a map look-up, not label hashing.
  const series = new Map<string, HttpSeries>();
  const httpRequests = new Counter({ name: 'xopc_http_requests_total', help: 'HTTP requests answered, by method, route template and status', labelNames: ['method', 'route', 'status'] as const, registers, collect() {
    for (const entry of series.values()) {
      if (entry.uncounted === 0) continue;
      entry.count.inc(entry.uncounted);
      entry.uncounted = 0;
    }
  } });
  const httpDuration = new Histogram({ name: 'xopc_http_request_duration_seconds', help: 'Time from receiving a request to the end of its answer', labelNames: ['method', 'route', 'status'] as const, buckets: HTTP_BUCKETS, registers });
  const agentTurns = new Counter({ name: 'xopc_agent_turns_total', help: 'Agent turns, by agent and result', labelNames: ['agent', 'result'] as const, registers });
  const modelDuration = new Histogram({ name: 'xopc_model_call_duration_seconds', help: 'Model calls (one per agent step), by provider and model', labelNames: ['provider', 'model'] as const, buckets: MODEL_BUCKETS, registers });
  const modelErrors = new Counter({ name: 'xopc_model_call_errors_total', help: 'Model calls that failed or timed out, by provider and model', labelNames: ['provider', 'model'] as const, registers });
  const modelTokens = new Counter({ name: 'xopc_model_tokens_total', help: 'Tokens used by model calls, by provider, model and direction (input, output)', labelNames: ['provider', 'model', 'direction'] as const, registers });
  const cronRuns = new Counter({ name: 'xopc_cron_runs_total', help: 'Cron job runs, by result', labelNames: ['result'] as const, registers });
  const channelDeliveries = new Counter({ name: 'xopc_channel_deliveries_total', help: 'Replies delivered to channels, by channel and result', labelNames: ['channel', 'result'] as const, registers });
  new Gauge({ name: 'xopc_messages_pending', help: 'Accepted async messages of this worker not yet answered and delivered', registers, collect() {
    this.set(sources.pendingMessages());
  } });

  // The supervisor's numbers arrive over IPC; the worker's are sampled at the scrape.
  const sampler = createProcessSampler();
  const supervisorGauge = (name: string, help: string, read: (stats: SupervisorStats) => number) => new Gauge({ name, help, registers, collect() {
    const stats = sources.supervisor();
    if (stats) this.set(read(stats));
  } });
  const counterFromSupervisor = (name: string, help: string, read: (stats: SupervisorStats) => number) => new Counter({ name, help, registers, collect() {
    const stats = sources.supervisor();
    if (!stats) return;
    this.reset();
    this.inc(read(stats));
  } });
  counterFromSupervisor('xopc_gateway_restarts_total', 'In-process restarts (SIGUSR1) since the supervisor started', (s) => s.restarts);
  counterFromSupervisor('xopc_worker_crashes_total', 'Workers that exited without being asked to, since the supervisor started', (s) => s.workerCrashes);
  new Counter({ name: 'xopc_worker_recycles_total', help: 'Workers replaced by the memory guard (gateway.worker.maxRssMb, maxAgeHours), by reason', labelNames: ['reason'] as const, registers, collect() {
    const stats = sources.supervisor();
    if (!stats) return;
    this.reset();
    for (const reason of ['memory', 'age'] as const) this.inc({ reason }, stats.recycles[reason]);
  } });
  supervisorGauge('xopc_worker_crashes_recent', 'Worker crashes within the crash policy window (60 s)', (s) => s.crashPolicy.recentCrashes);
  supervisorGauge('xopc_worker_crashes_give_up', 'Crashes within the window at which the supervisor gives up and exits', (s) => s.crashPolicy.giveUpAt);
  supervisorGauge('xopc_worker_crash_backoff_seconds', 'Delay before a new worker if the current one crashed now', (s) => s.crashPolicy.nextDelayMs / 1000);
  supervisorGauge('xopc_worker_standby_waiting', 'Whether a loaded standby worker waits to take over (gateway.worker.standby): 1 or 0', (s) => (s.standby?.waiting ? 1 : 0));
  counterFromSupervisor('xopc_worker_standby_promotions_total', 'Standby workers promoted to serve (after a crash, or a memory-guard replacement) since the supervisor started', (s) => s.standby?.promotions ?? 0);
  counterFromSupervisor('xopc_worker_standby_crashes_total', 'Standby workers that exited without being asked to (not counted as worker crashes)', (s) => s.standby?.crashes ?? 0);

  const memory = new Gauge({ name: 'xopc_process_resident_memory_bytes', help: 'Resident memory (RSS), by process (worker, supervisor, and a waiting standby worker)', labelNames: ['process'] as const, registers });
  const heap = new Gauge({ name: 'xopc_process_heap_used_bytes', help: 'V8 heap in use, by process (worker, supervisor)', labelNames: ['process'] as const, registers });
  const loopDelay = new Gauge({ name: 'xopc_process_event_loop_delay_seconds', help: 'Event-loop delay since the previous sample (mean, p99, max), by process (worker, supervisor)', labelNames: ['process', 'stat'] as const, registers });
  const setProcess = (name: string, stats: SupervisorStats['process']) => {
    memory.set({ process: name }, stats.rssBytes);
    heap.set({ process: name }, stats.heapUsedBytes);
    for (const stat of ['mean', 'p99', 'max'] as const) loopDelay.set({ process: name, stat }, stats.eventLoopDelay[stat]);
  };

  return {
    registry,
    agentTurns,
    cronRuns,
    channelDeliveries,
    httpRequest(method: string, route: string, status: number, seconds: number): void {
      const key = `${method} ${status} ${route}`;
      let entry = series.get(key);
      if (!entry) {
        const labels = { method: METHODS.has(method) ? method : 'OTHER', route, status: String(status) };
        entry = { count: httpRequests.labels(labels), uncounted: 0, duration: httpDuration.labels(labels) };
        series.set(key, entry);
      }
      entry.uncounted++;
      entry.duration.observe(seconds);
    },
    modelCall(sample: ModelCallSample): void {
      const labels = { provider: sample.provider, model: sample.model };
      modelDuration.observe(labels, sample.seconds);
      if (!sample.ok) modelErrors.inc(labels);
      else {
        // Created at the first call, so a model's error series exists (at 0) once it has been called.
        modelErrors.inc(labels, 0);
      }
      if (sample.inputTokens > 0) modelTokens.inc({ ...labels, direction: 'input' }, sample.inputTokens);
      if (sample.outputTokens > 0) modelTokens.inc({ ...labels, direction: 'output' }, sample.outputTokens);
    },
    async render(): Promise<{ contentType: string; body: string }> {
      setProcess('worker', sampler.sample());
      const stats = sources.supervisor();
      if (stats) setProcess('supervisor', stats.process);
      // A waiting standby reports only its RSS; the series is there while one waits.
      if (stats?.standby?.rssBytes != null) memory.set({ process: 'standby' }, stats.standby.rssBytes);
      else memory.remove({ process: 'standby' });
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type PromMetrics = ReturnType<typeof createPromMetrics>;
