/**
 * The cron vocabulary shared by the store, the scheduler, the runner, the routes and the
 * agent's tools. A job is one JSON file, `<state>/cron/<id>.json`, holding its definition
 * and its state (what was handled, what is running, the last runs).
 */

/** Why a run happened. */
export type RunTrigger = 'schedule' | 'catch-up' | 'manual';

/** One finished run, as kept in a job's bounded history. */
export interface CronRun {
  trigger: RunTrigger;
  /** The occurrence this run stands for (ISO); null for manual runs. */
  scheduledFor: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  status: 'ok' | 'error';
  /** What failed (agent, delivery, or an interrupted run); only when status is "error". */
  error?: string;
  /** The start of the agent's reply, for `xopc cron list` and the API; the full reply is in the job's session. */
  reply?: string;
  /** Where the reply was delivered, when the job has a chat. */
  deliveredTo?: string;
  /**
   * Taken over from a worker that stopped before recording the run: the run was finished
   * here, without asking the agent again when its turn was already stored.
   */
  resumed?: boolean;
}

/** A run in progress, written before the agent is called so no other worker starts one too. */
export interface RunningMarker {
  /** Stored with the run's turn in the job's session, so a worker taking the run over finds it. */
  runId: string;
  /** 1, or 2 once taken over from a worker that stopped mid-run (never taken over twice). */
  attempt: number;
  /** Set by a worker that stopped while the run was going, for the next owner to take it over at once. */
  abandoned?: boolean;
  pid: number;
  /** The process start time (Linux), to tell a reused pid from the worker that wrote the marker. */
  pidStartTime: number | null;
  trigger: RunTrigger;
  scheduledFor: string | null;
  startedAt: string;
}

export interface CronJob {
  id: string;
  name: string | null;
  /** A 5-field (minute precision) or 6-field (seconds first) cron expression; null for a one-shot job. */
  schedule: string | null;
  /** The one-shot time (ISO, UTC); null for a recurring job. */
  at: string | null;
  /** IANA time zone the expression is read in. */
  timezone: string;
  /** What the agent is told at each run. */
  message: string;
  agentId: string;
  /** The chat the reply is delivered to; both null when the reply is only stored in the job's session. */
  channel: string | null;
  chatId: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  /**
   * Every occurrence at or before this time is dealt with: run, skipped because the
   * previous run was still going, or not owed (the job did not exist or was disabled).
   * The scheduler owes at most one catch-up run for occurrences after it (see cron-scheduler.ts).
   */
  handledThrough: string;
  running: RunningMarker | null;
  /** Newest first, at most HISTORY_LIMIT. */
  runs: CronRun[];
  /** Occurrences not run because a later one was run for them (see cron-scheduler.ts); newest first, at most HISTORY_LIMIT. */
  skipped: SkippedOccurrence[];
}

/**
 * An occurrence that fell while the job's previous run was still going, or while no
 * gateway ran timers, and that a later occurrence's catch-up run stood for.
 */
export interface SkippedOccurrence {
  scheduledFor: string;
  /** The occurrence whose run covered it. */
  coveredBy: string;
}

/** Runs kept per job. Enough to see a pattern of failures; small enough to rewrite at every run. */
export const HISTORY_LIMIT = 20;

/** The reply preview kept in a run entry. */
export const REPLY_PREVIEW_CHARS = 500;

/** The channel segment of a job's own session: `{agentId}:cron:{jobId}`. */
export const CRON_CHANNEL = 'cron';
