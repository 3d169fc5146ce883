import type { Logger } from '../../src/logger.js';
import { isAlive, processStartTime } from '../../src/proc.js';
import type { AgentService } from '../agent/agent-service.js';
import type { ChannelRegistry } from '../channels/types.js';
import { ApiError } from '../http/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CronStore } from './cron-store.js';
import { CRON_CHANNEL, HISTORY_LIMIT, REPLY_PREVIEW_CHARS, type CronJob, type CronRun, type RunningMarker, type RunTrigger } from './cron-types.js';

export type StartOutcome =
  | { status: 'started'; job: CronJob }
  /** The previous run (in this worker or another live one) is still going: a job never overlaps itself. */
  | { status: 'busy'; job: CronJob; since: string }
  /** A scheduled occurrence that someone already dealt with, or of a job disabled meanwhile. */
  | { status: 'not-due'; job: CronJob }
  | { status: 'missing' };

export interface CronRunner {
  /**
   * Starts a run now and returns at once; the run itself goes on in the background and
   * records its outcome in the job's history, never throwing. A scheduled run passes the
   * occurrence it stands for: it is marked handled (when the job is busy, as skipped, in
   * the job's `skipped` list), and a one-shot job is disabled, in the same write that
   * claims the run.
   */
  start(id: string, trigger: RunTrigger, scheduledFor: Date | null): StartOutcome;
  /** Whether a run of this job is going on, here or in another live worker. */
  isRunning(job: CronJob): boolean;
  /** Records what a marker left by a worker that died mid-run means: an interrupted run. Returns whether it changed the job. */
  settleStale(job: CronJob): boolean;
  /** Resolves when this worker's runs have finished and been recorded, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void>;
}

export interface CronRunnerOptions {
  store: CronStore;
  agent: AgentService;
  channels: ChannelRegistry;
  logger: Logger;
  now?: () => number;
  /** Counts runs by result. */
  metrics?: Metrics;
}

export function createCronRunner(options: CronRunnerOptions): CronRunner {
  const { store, agent, channels, logger } = options;
  const now = options.now ?? Date.now;
  const inFlight = new Map<string, Promise<void>>();
  const ownStartTime = processStartTime(process.pid);

  function markerAlive(marker: RunningMarker): boolean {
    if (marker.pid === process.pid) return false; // ours are tracked in inFlight
    if (!isAlive(marker.pid)) return false;
    return marker.pidStartTime === null || processStartTime(marker.pid) === marker.pidStartTime;
  }

  const runner: CronRunner = {
    isRunning(job) {
      return inFlight.has(job.id) || (job.running !== null && markerAlive(job.running));
    },

    settleStale(job) {
      const marker = job.running;
      if (!marker || inFlight.has(job.id) || markerAlive(marker)) return false;
      const finishedAt = now();
      pushRun(job, {
        trigger: marker.trigger,
        scheduledFor: marker.scheduledFor,
        startedAt: marker.startedAt,
        finishedAt: new Date(finishedAt).toISOString(),
        durationMs: Math.max(0, finishedAt - Date.parse(marker.startedAt)),
        status: 'error',
        error: 'Interrupted: the worker running it stopped before the run finished',
      });
      job.running = null;
      options.metrics?.cronRun('interrupted');
      logger.warn({ jobId: job.id, pid: marker.pid }, 'cron run was interrupted by a worker exit; recorded as failed');
      return true;
    },

    start(id, trigger, scheduledFor) {
      let outcome = { status: 'missing' } as StartOutcome;
      const startedAt = now();
      const stored = store.update(id, (job) => {
        const settled = runner.settleStale(job);
        if (scheduledFor) {
          if (!job.enabled || scheduledFor.getTime() <= Date.parse(job.handledThrough)) {
            outcome = { status: 'not-due', job };
            return settled ? job : null;
          }
          job.handledThrough = scheduledFor.toISOString();
          // A one-shot job is spent once its time is handled.
          if (job.at !== null) job.enabled = false;
        }
        if (runner.isRunning(job)) {
          const since = job.running?.startedAt ?? new Date(startedAt).toISOString();
          outcome = { status: 'busy', job, since };
          if (scheduledFor) job.skipped = [{ scheduledFor: scheduledFor.toISOString(), runningSince: since }, ...job.skipped].slice(0, HISTORY_LIMIT);
          return scheduledFor || settled ? job : null;
        }
        job.running = {
          pid: process.pid,
          pidStartTime: ownStartTime,
          trigger,
          scheduledFor: scheduledFor?.toISOString() ?? null,
          startedAt: new Date(startedAt).toISOString(),
        };
        outcome = { status: 'started', job };
        return job;
      });
      if (outcome.status === 'started' && stored) {
        const run = execute(stored, stored.running!).finally(() => inFlight.delete(id));
        inFlight.set(id, run);
        logger.debug({ jobId: id, trigger, scheduledFor: scheduledFor?.toISOString() }, 'cron run started');
      } else if (outcome.status === 'busy') {
        logger.info({ jobId: id, trigger, since: outcome.since }, 'cron run skipped: the previous run is still going');
      }
      return outcome;
    },

    async idle(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(inFlight.values()), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    },
  };

  /** One run: the agent in the job's own session, then delivery to the job's chat. Never throws. */
  async function execute(job: CronJob, marker: RunningMarker): Promise<void> {
    const run: Omit<CronRun, 'finishedAt' | 'durationMs' | 'status'> & { status?: CronRun['status'] } = {
      trigger: marker.trigger,
      scheduledFor: marker.scheduledFor,
      startedAt: marker.startedAt,
    };
    try {
      const result = await agent.chat({ session: { agentId: job.agentId, channel: CRON_CHANNEL, peerId: job.id }, message: job.message });
      run.reply = result.reply.slice(0, REPLY_PREVIEW_CHARS);
      // Channels refuse empty messages; an empty answer stays in the session only.
      if (job.channel !== null && job.chatId !== null && result.reply.trim() !== '') {
        await channels.send(job.channel, job.chatId, result.reply);
        run.deliveredTo = `${job.channel}:${job.chatId}`;
      }
      run.status = 'ok';
    } catch (err) {
      run.status = 'error';
      run.error = describeError(err);
      logger.warn({ err, jobId: job.id }, 'cron run failed; recorded in its history, the schedule goes on');
    }
    options.metrics?.cronRun(run.status);
    const finishedAt = now();
    const entry: CronRun = {
      ...run,
      status: run.status,
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: Math.max(0, finishedAt - Date.parse(marker.startedAt)),
    };
    try {
      const recorded = store.update(job.id, (current) => {
        pushRun(current, entry);
        if (current.running?.pid === marker.pid && current.running.startedAt === marker.startedAt) current.running = null;
        return current;
      });
      if (!recorded) logger.info({ jobId: job.id }, 'cron job was deleted while it ran: its run is not recorded');
      logger.info({ jobId: job.id, status: entry.status, ms: entry.durationMs }, 'cron run finished');
    } catch (err) {
      logger.error({ err, jobId: job.id }, 'recording a cron run failed; the job stays marked as running until the next start settles it');
    }
  }

  return runner;
}

function pushRun(job: CronJob, run: CronRun): void {
  job.runs = [run, ...job.runs].slice(0, HISTORY_LIMIT);
}

function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
