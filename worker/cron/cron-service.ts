import { randomBytes } from 'node:crypto';
import type { Config } from '../../src/config.js';
import { resolveAgentId } from '../agent/agents.js';
import type { ChannelRegistry } from '../channels/types.js';
import { apiError } from '../http/errors.js';
import { formatSessionKey, isSegment } from '../sessions/session-key.js';
import type { CronRunner } from './cron-runner.js';
import { cronTiming, jobTiming, machineTimeZone, parseAt, checkTimeZone, TimingError } from './cron-schedule.js';
import type { CronScheduler } from './cron-scheduler.js';
import type { CronStore } from './cron-store.js';
import { CRON_CHANNEL, type CronJob } from './cron-types.js';

/** What a new job is made of (the API's and the agent tool's input, already typed). */
export interface CreateJobInput {
  name?: string | null;
  /** A 5- or 6-field cron expression; exactly one of `schedule` and `at`. */
  schedule?: string;
  /** A one-shot time, ISO 8601 (without an offset: wall-clock time in `timezone`). */
  at?: string;
  message: string;
  channel?: string;
  chatId?: string;
  agentId?: string;
  /** IANA name; default the machine's. */
  timezone?: string;
  enabled?: boolean;
}

/** A job with what the API shows beside it. */
export interface JobView extends CronJob {
  /** The job's own session, where every run's exchange is kept. */
  session: string;
  nextRunAt: string | null;
  isRunning: boolean;
}

export interface CronService {
  list(filter?: { channel?: string; chatId?: string }): JobView[];
  /** Throws JOB_NOT_FOUND. */
  get(id: string): JobView;
  /** Throws INVALID_REQUEST (bad expression, time zone, `at` in the past, missing message, ...) or CHANNEL_NOT_FOUND; creates nothing then. */
  create(input: CreateJobInput): JobView;
  /** Throws JOB_NOT_FOUND. A run in progress finishes, unrecorded. */
  remove(id: string): void;
  /** Flips `enabled`, or sets it when given. Throws JOB_NOT_FOUND. */
  toggle(id: string, enabled?: boolean): JobView;
  /** Starts a run now, outside the schedule. Throws JOB_NOT_FOUND, or INVALID_REQUEST while a run is going on. */
  trigger(id: string): JobView;
}

export interface CronServiceOptions {
  config: Config;
  store: CronStore;
  runner: CronRunner;
  scheduler: CronScheduler;
  channels: ChannelRegistry;
  now?: () => number;
}

const MAX_NAME_CHARS = 200;

export function createCronService(options: CronServiceOptions): CronService {
  const { config, store, runner, scheduler, channels } = options;
  const now = options.now ?? Date.now;

  function view(job: CronJob): JobView {
    return { ...job, session: formatSessionKey({ agentId: job.agentId, channel: CRON_CHANNEL, peerId: job.id }), nextRunAt: nextRunOf(job), isRunning: runner.isRunning(job) };
  }

  function nextRunOf(job: CronJob): string | null {
    if (!job.enabled) return null;
    try {
      return jobTiming(job).next(new Date(Math.max(now(), Date.parse(job.handledThrough))))?.toISOString() ?? null;
    } catch {
      return null;
    }
  }

  function found(id: string): CronJob {
    const job = store.get(id);
    if (!job) throw apiError('JOB_NOT_FOUND', `No cron job with id "${clip(id)}"`);
    return job;
  }

  return {
    list(filter = {}) {
      return store.list()
        .filter((job) => (filter.channel === undefined || job.channel === filter.channel) && (filter.chatId === undefined || job.chatId === filter.chatId))
        .map(view);
    },

    get: (id) => view(found(id)),

    create(input) {
      const job = buildJob(input, { config, channels, now: now() });
      store.create(job);
      scheduler.refresh(job.id);
      return view(store.get(job.id) ?? job);
    },

    remove(id) {
      if (!store.remove(id)) throw apiError('JOB_NOT_FOUND', `No cron job with id "${clip(id)}"`);
      scheduler.refresh(id);
    },

    toggle(id, enabled) {
      const timestamp = now();
      const updated = store.update(id, (job) => {
        const next = enabled ?? !job.enabled;
        if (next === job.enabled) return null;
        if (next && job.at !== null && Date.parse(job.at) <= Math.max(timestamp, Date.parse(job.handledThrough))) {
          throw apiError('INVALID_REQUEST', `Job "${job.id}" was a one-shot job for ${job.at}, which has passed; create a new one`);
        }
        job.enabled = next;
        job.updatedAt = new Date(timestamp).toISOString();
        // A disabled job owes nothing for the time it was off.
        if (next) job.handledThrough = new Date(Math.max(timestamp, Date.parse(job.handledThrough))).toISOString();
        return job;
      });
      if (!updated) throw apiError('JOB_NOT_FOUND', `No cron job with id "${clip(id)}"`);
      scheduler.refresh(id);
      return view(updated);
    },

    trigger(id) {
      const outcome = runner.start(id, 'manual', null);
      if (outcome.status === 'missing') throw apiError('JOB_NOT_FOUND', `No cron job with id "${clip(id)}"`);
      if (outcome.status === 'busy') throw apiError('INVALID_REQUEST', `Job "${id}" is already running (since ${outcome.since}); a job never overlaps itself, try again when it finishes`);
      if (outcome.status === 'resumed') throw apiError('INVALID_REQUEST', `Job "${id}" is finishing a run left by a worker that stopped; try again when it finishes`);
      return view(outcome.job);
    },
  };
}

/** Validates the input and makes the job to store; throws INVALID_REQUEST or CHANNEL_NOT_FOUND. */
function buildJob(input: CreateJobInput, context: { config: Config; channels: ChannelRegistry; now: number }): CronJob {
  const { config, channels, now } = context;
  const message = input.message.trim();
  if (!message) throw apiError('INVALID_REQUEST', 'message must not be empty');
  const maxChars = config.agents.defaults.maxMessageChars;
  if (message.length > maxChars) throw apiError('INVALID_REQUEST', `message is longer than ${maxChars} characters (agents.defaults.maxMessageChars)`);
  const name = input.name?.trim() || null;
  if (name && name.length > MAX_NAME_CHARS) throw apiError('INVALID_REQUEST', `name is longer than ${MAX_NAME_CHARS} characters`);

  const hasSchedule = input.schedule !== undefined && input.schedule.trim() !== '';
  const hasAt = input.at !== undefined && input.at.trim() !== '';
  if (hasSchedule === hasAt) {
    throw apiError('INVALID_REQUEST', hasAt
      ? 'Give either schedule (recurring) or at (one-shot), not both'
      : 'schedule is required: a cron expression such as "0 9 * * 1-5" (or "at" with an ISO time for a one-shot job)');
  }
  const timezone = input.timezone?.trim() || machineTimeZone();
  let schedule: string | null = null;
  let at: string | null = null;
  try {
    checkTimeZone(timezone);
    if (hasSchedule) {
      schedule = input.schedule!.trim().replace(/\s+/g, ' ');
      cronTiming(schedule, timezone);
    } else {
      const when = parseAt(input.at!, timezone);
      if (when.getTime() <= now) throw new TimingError(`at (${when.toISOString()}) is in the past`);
      at = when.toISOString();
    }
  } catch (err) {
    if (err instanceof TimingError) throw apiError('INVALID_REQUEST', err.message);
    throw err;
  }

  const channel = input.channel ?? null;
  const chatId = input.chatId ?? null;
  if ((channel === null) !== (chatId === null)) throw apiError('INVALID_REQUEST', 'channel and chat_id go together: give both to deliver the replies to a chat, or neither to only store them');
  if (channel !== null) {
    if (!isSegment(channel)) throw apiError('INVALID_REQUEST', 'channel must be 1-64 characters of [a-z0-9_-]');
    if (!channels.get(channel)) throw apiError('CHANNEL_NOT_FOUND', `Channel "${clip(channel)}" is not configured or not enabled`);
  }
  const agentId = resolveAgentId(config, input.agentId);

  const createdAt = new Date(now).toISOString();
  return {
    id: randomBytes(6).toString('hex'),
    name,
    schedule,
    at,
    timezone,
    message,
    agentId,
    channel,
    chatId,
    enabled: input.enabled ?? true,
    createdAt,
    updatedAt: createdAt,
    handledThrough: createdAt,
    running: null,
    runs: [],
    skipped: [],
  };
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}
