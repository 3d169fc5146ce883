import type { AgentTool, ToolContext } from '../agent/tool-registry.js';
import type { ChannelRegistry } from '../channels/types.js';
import { ApiError } from '../http/errors.js';
import type { CronService, JobView } from './cron-service.js';

/**
 * The agent's cron tools: schedule, list and cancel. A job scheduled from a chat
 * (Telegram, webchat, ...) answers in that chat; from the API or from a job, it only
 * stores its replies. From a chat the agent sees and cancels only that chat's jobs, so
 * one Telegram user cannot list or cancel another's reminders.
 */
export function createCronTools(cron: CronService, channels: ChannelRegistry): AgentTool[] {
  /** The chat a tool call comes from, when it is one the replies can be delivered to. */
  const chatOf = (context: ToolContext) => (channels.get(context.channel) ? { channel: context.channel, chatId: context.peerId } : null);
  const visible = (context: ToolContext) => cron.list(chatOf(context) ?? {});

  const schedule: AgentTool = {
    name: 'cron_schedule',
    description: [
      'Schedule a task that runs later, once or repeatedly. At each run you are given `message` as the prompt,',
      'and your answer is sent to the current chat. Recurring: `schedule` is a cron expression with 5 fields',
      '"minute hour day-of-month month day-of-week" (e.g. "0 9 * * 1-5" = weekdays at 09:00, "*/15 * * * *" =',
      'every 15 minutes), or 6 fields with seconds first. One-shot: `at` is an ISO 8601 time such as',
      '"2030-01-31T09:00". Times are read in `timezone` (IANA, default: the server\'s). Use current_time first',
      'when you need today\'s date. Write `message` as an instruction to yourself, e.g. "Remind the user to stand up."',
    ].join(' '),
    parameters: {
      type: 'object',
      properties: {
        message: { type: 'string', description: 'What you will be told at each run.' },
        schedule: { type: 'string', description: 'Cron expression for a recurring task (5 or 6 fields).' },
        at: { type: 'string', description: 'ISO 8601 time for a one-shot task.' },
        timezone: { type: 'string', description: 'IANA time zone, e.g. "Europe/Paris".' },
        name: { type: 'string', description: 'A short label for the task.' },
      },
      required: ['message'],
      additionalProperties: false,
    },
    execute(args, context) {
      const chat = chatOf(context);
      return attempt(() => {
        const job = cron.create({
          message: String(args.message ?? ''),
          schedule: optionalString(args.schedule),
          at: optionalString(args.at),
          timezone: optionalString(args.timezone),
          name: optionalString(args.name) ?? null,
          agentId: context.agentId,
          ...(chat ?? {}),
        });
        return JSON.stringify({ scheduled: summary(job) });
      });
    },
  };

  const list: AgentTool = {
    name: 'cron_list',
    description: 'List the scheduled tasks of this chat, with their next run and last result.',
    parameters: { type: 'object', properties: {}, additionalProperties: false },
    execute(_args, context) {
      return JSON.stringify({ jobs: visible(context).map(summary) });
    },
  };

  const cancel: AgentTool = {
    name: 'cron_cancel',
    description: 'Cancel (delete) a scheduled task by its id, as given by cron_list or cron_schedule.',
    parameters: {
      type: 'object',
      properties: { job_id: { type: 'string', description: 'The task id.' } },
      required: ['job_id'],
      additionalProperties: false,
    },
    execute(args, context) {
      const id = String(args.job_id ?? '');
      if (!visible(context).some((job) => job.id === id)) return { text: `No scheduled task "${id}" in this chat. Call cron_list for the ids.`, isError: true };
      return attempt(() => {
        cron.remove(id);
        return JSON.stringify({ cancelled: id });
      });
    },
  };

  return [schedule, list, cancel];
}

function summary(job: JobView) {
  const last = job.runs[0];
  return {
    id: job.id,
    name: job.name,
    ...(job.schedule !== null ? { schedule: job.schedule } : { at: job.at }),
    timezone: job.timezone,
    message: job.message,
    enabled: job.enabled,
    nextRunAt: job.nextRunAt,
    deliversTo: job.channel !== null ? `${job.channel}:${job.chatId}` : null,
    lastRun: last ? { startedAt: last.startedAt, status: last.status, ...(last.error ? { error: last.error } : {}) } : null,
  };
}

/** Runs `action`; an API error (bad expression, unknown job) goes back to the model as a tool error. */
function attempt(action: () => string): string | { text: string; isError: true } {
  try {
    return action();
  } catch (err) {
    if (err instanceof ApiError) return { text: err.message, isError: true };
    throw err;
  }
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
