import { randomBytes } from 'node:crypto';
import type { Logger } from '../../src/logger.js';
import { processStartTime } from '../../src/proc.js';
import type { AgentService } from '../agent/agent-service.js';
import type { ChannelRegistry } from '../channels/types.js';
import { ApiError } from '../http/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { holderAlive } from './cron-claims.js';
import type { CronStore } from './cron-store.js';
import { CRON_CHANNEL, HISTORY_LIMIT, REPLY_PREVIEW_CHARS, type CronJob, type CronRun, type RunningMarker, type RunTrigger } from './cron-types.js';

export type StartOutcome =
  | { status: 'started'; job: CronJob }
  /** A run left by a worker that stopped mid-run was taken over first; what was asked for is still owed. */
  | { status: 'resumed'; job: CronJob }
  /** The previous run is still going (`here`: in this worker); a job never overlaps itself, and nothing was claimed. */
  | { status: 'busy'; job: CronJob; since: string; here: boolean }
  /** A scheduled occurrence that someone already dealt with, or of a job disabled meanwhile. */
  | { status: 'not-due'; job: CronJob }
  | { status: 'missing' };

/** A scheduled occurrence to run, and the earlier ones it stands for (they fell while the job could not run). */
export interface Occurrence {
  due: Date;
  /** Newest first. */
  covers: Date[];
}

export interface CronRunner {
  /**
   * Starts a run now and returns at once; the run itself goes on in the background and
   * records its outcome in the job's history, never throwing. A scheduled run passes the
   * occurrence it stands for: it is claimed (cron-claims.ts) and marked handled, with the
   * occurrences it covers listed as skipped, and a one-shot job is disabled, in the same
   * locked write that starts the run. A busy job claims nothing: the occurrence stays owed.
   * A run left behind by a worker that stopped is taken over before anything else.
   */
  start(id: string, trigger: RunTrigger, occurrence: Occurrence | null): StartOutcome;
  /** Takes over a run left behind by a worker that stopped, if the job has one (`start` without a new run). */
  resume(id: string): StartOutcome;
  /** Whether a run of this job is going on, here or in another live worker. */
  isRunning(job: CronJob): boolean;
  /** Resolves when this worker's runs have finished and been recorded, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void>;
  /**
   * The worker is stopping: from now on a run the agent gives up on is not recorded as
   * failed but left, marked abandoned, for the next worker to take over and finish once.
   */
  abandon(): void;
}

export interface CronRunnerOptions {
  store: CronStore;
  agent: AgentService;
  channels: ChannelRegistry;
  logger: Logger;
  /** Called when a run of this worker has been recorded (the scheduler then runs what became owed meanwhile). */
  onFinished?: (id: string) => void;
  now?: () => number;
  /** Counts runs by result. */
  metrics?: Metrics;
}

/** A run is taken over at most once: one that stops a second worker too is recorded as interrupted. */
const MAX_ATTEMPTS = 2;

export function createCronRunner(options: CronRunnerOptions): CronRunner {
  const { store, agent, channels, logger } = options;
  const now = options.now ?? Date.now;
  const inFlight = new Map<string, Promise<void>>();
  const ownStartTime = processStartTime(process.pid);
  let closing = false;

  /** A marker this worker does not own, still owned by a live worker that has not given it up. */
  const foreignLive = (marker: RunningMarker) => marker.pid !== process.pid && !marker.abandoned && holderAlive(marker);

  type MarkerVerdict = { kind: 'free' | 'settled' } | { kind: 'busy'; since: string; here: boolean } | { kind: 'taken-over'; marker: RunningMarker };

  /** Judges the job's running marker; takes over or settles one left behind (mutates `job`). */
  function judgeMarker(job: CronJob): MarkerVerdict {
    const marker = job.running;
    if (!marker) return { kind: 'free' };
    if (inFlight.has(job.id)) return { kind: 'busy', since: marker.startedAt, here: true };
    if (foreignLive(marker)) return { kind: 'busy', since: marker.startedAt, here: false };
    if ((marker.attempt ?? 1) < MAX_ATTEMPTS && !closing) {
      job.running = { ...marker, runId: marker.runId ?? newRunId(), attempt: (marker.attempt ?? 1) + 1, pid: process.pid, pidStartTime: ownStartTime, abandoned: undefined };
      logger.warn({ jobId: job.id, pid: marker.pid, runId: job.running.runId }, 'taking over a cron run left by a worker that stopped before recording it');
      return { kind: 'taken-over', marker: job.running };
    }
    const finishedAt = now();
    pushRun(job, {
      trigger: marker.trigger,
      scheduledFor: marker.scheduledFor,
      startedAt: marker.startedAt,
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: Math.max(0, finishedAt - Date.parse(marker.startedAt)),
      status: 'error',
      error: 'Interrupted: the workers running it stopped before the run finished, twice',
    });
    job.running = null;
    options.metrics?.cronRun('interrupted');
    logger.warn({ jobId: job.id, pid: marker.pid }, 'cron run was interrupted again after being taken over; recorded as failed');
    return { kind: 'settled' };
  }

  function launch(job: CronJob, marker: RunningMarker, resumed: boolean): void {
    const run = execute(job, marker, resumed).finally(() => {
      inFlight.delete(job.id);
      options.onFinished?.(job.id);
    });
    inFlight.set(job.id, run);
  }

  function begin(id: string, trigger: RunTrigger, occurrence: Occurrence | null, newRun: boolean): StartOutcome {
    let outcome = { status: 'missing' } as StartOutcome;
    let takenOver: RunningMarker | null = null;
    const startedAt = now();
    const stored = store.update(id, (job) => {
      const verdict = judgeMarker(job);
      if (verdict.kind === 'taken-over') {
        takenOver = verdict.marker;
        outcome = { status: 'resumed', job };
        return job;
      }
      const settled = verdict.kind === 'settled';
      if (verdict.kind === 'busy') {
        outcome = { status: 'busy', job, since: verdict.since, here: verdict.here };
        return null;
      }
      if (!newRun) {
        outcome = { status: 'not-due', job };
        return settled ? job : null;
      }
      const runId = newRunId();
      if (occurrence) {
        const due = occurrence.due;
        if (!job.enabled || due.getTime() <= Date.parse(job.handledThrough)) {
          outcome = { status: 'not-due', job };
          return settled ? job : null;
        }
        if (!store.claim(id, due, runId)) {
          // Claimed, yet not marked handled: its claimer died inside this very critical
          // section. It is not run a second time; the job moves on.
          logger.warn({ jobId: id, scheduledFor: due.toISOString() }, 'cron occurrence was claimed by a worker that died before starting it; not run');
          job.handledThrough = due.toISOString();
          outcome = { status: 'not-due', job };
          return job;
        }
        job.handledThrough = due.toISOString();
        const covers = occurrence.covers.map((time) => ({ scheduledFor: time.toISOString(), coveredBy: due.toISOString() }));
        job.skipped = [...covers, ...job.skipped].slice(0, HISTORY_LIMIT);
        // A one-shot job is spent once its time is handled.
        if (job.at !== null) job.enabled = false;
      }
      job.running = {
        runId,
        attempt: 1,
        pid: process.pid,
        pidStartTime: ownStartTime,
        trigger,
        scheduledFor: occurrence?.due.toISOString() ?? null,
        startedAt: new Date(startedAt).toISOString(),
      };
      outcome = { status: 'started', job };
      return job;
    });
    if (stored && takenOver) {
      launch(stored, takenOver, true);
    } else if (outcome.status === 'started' && stored) {
      launch(stored, stored.running!, false);
      logger.debug({ jobId: id, trigger, scheduledFor: occurrence?.due.toISOString() }, 'cron run started');
    } else if (outcome.status === 'busy' && occurrence) {
      logger.debug({ jobId: id, since: outcome.since, here: outcome.here }, 'cron occurrence waits: the previous run is still going');
    }
    return outcome;
  }

  const runner: CronRunner = {
    isRunning(job) {
      return inFlight.has(job.id) || (job.running !== null && foreignLive(job.running));
    },
    start: (id, trigger, occurrence) => begin(id, trigger, occurrence, true),
    resume: (id) => begin(id, 'catch-up', null, false),
    async idle(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(inFlight.values()), new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, timeoutMs))))]);
      clearTimeout(timer);
    },
    abandon() {
      closing = true;
    },
  };

  /** One run: the agent in the job's own session, then delivery to the job's chat. Never throws. */
  async function execute(job: CronJob, marker: RunningMarker, resumed: boolean): Promise<void> {
    const run: Omit<CronRun, 'finishedAt' | 'durationMs' | 'status'> & { status?: CronRun['status'] } = {
      trigger: marker.trigger,
      scheduledFor: marker.scheduledFor,
      startedAt: marker.startedAt,
      ...(resumed ? { resumed: true } : {}),
    };
    try {
      const result = await agent.chat({
        session: { agentId: job.agentId, channel: CRON_CHANNEL, peerId: job.id },
        message: job.message,
        // The run's id goes into the stored turn: a worker taking the run over finds the
        // turn there and delivers it instead of asking the agent a second time.
        ref: marker.runId,
        ...(resumed ? { acceptedAt: Date.parse(marker.startedAt) } : {}),
      });
      run.reply = result.reply.slice(0, REPLY_PREVIEW_CHARS);
      // Channels refuse empty messages; an empty answer stays in the session only.
      if (job.channel !== null && job.chatId !== null && result.reply.trim() !== '') {
        await channels.send(job.channel, job.chatId, result.reply);
        run.deliveredTo = `${job.channel}:${job.chatId}`;
      }
      run.status = 'ok';
    } catch (err) {
      if (closing) {
        leaveForNextOwner(job.id, marker, err);
        return;
      }
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
        if (current.running?.runId === marker.runId) current.running = null;
        return current;
      });
      if (!recorded) logger.info({ jobId: job.id }, 'cron job was deleted while it ran: its run is not recorded');
      logger.info({ jobId: job.id, status: entry.status, ms: entry.durationMs, resumed }, 'cron run finished');
    } catch (err) {
      logger.error({ err, jobId: job.id }, 'recording a cron run failed; the job stays marked as running until the next owner takes it over');
    }
  }

  function leaveForNextOwner(id: string, marker: RunningMarker, err: unknown): void {
    try {
      store.update(id, (current) => {
        if (current.running?.runId !== marker.runId) return null;
        current.running.abandoned = true;
        return current;
      });
      logger.warn({ jobId: id, runId: marker.runId, reason: describeError(err) }, 'worker stopping: cron run left for the next worker to finish');
    } catch (writeErr) {
      logger.error({ err: writeErr, jobId: id }, 'could not mark a cron run as abandoned; the next worker takes it over once this one has exited');
    }
  }

  return runner;
}

function newRunId(): string {
  return `cron-run-${randomBytes(8).toString('hex')}`;
}

function pushRun(job: CronJob, run: CronRun): void {
  job.runs = [run, ...job.runs].slice(0, HISTORY_LIMIT);
}

function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
