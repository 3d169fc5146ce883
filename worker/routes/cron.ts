import Router from '@koa/router';
import { z } from 'zod';
import type { CronService, JobView } from '../cron/cron-service.js';
import { apiError } from '../http/errors.js';

const text = (field: string) => z.string({ error: `${field} must be a string` });

const createBody = z.object({
  name: text('name').nullable().optional(),
  schedule: text('schedule').optional(),
  at: text('at').optional(),
  message: z.string({ error: (issue) => (issue.input === undefined ? 'message is required: what the agent is told at each run' : 'message must be a string') }),
  channel: text('channel').optional(),
  // Telegram chat ids arrive as numbers (negative for groups).
  chat_id: z.union([z.string().trim().min(1).max(128), z.number().int().transform(String)], { error: 'chat_id must be a string (1-128 characters) or an integer' }).optional(),
  agentId: text('agentId').optional(),
  timezone: text('timezone').optional(),
  enabled: z.boolean({ error: 'enabled must be true or false' }).optional(),
}, { error: 'body must be a JSON object with "schedule" (or "at") and "message"' });

const triggerBody = z.object({
  job_id: z.string({ error: (issue) => (issue.input === undefined ? 'job_id is required' : 'job_id must be a string') }).min(1, 'job_id must not be empty'),
}, { error: 'body must be a JSON object with a "job_id" string' });

const toggleBody = z.object({
  enabled: z.boolean({ error: 'enabled must be true or false' }).optional(),
}, { error: 'body must be a JSON object' });

/**
 * `/api/cron`: list (with next and last run), create, trigger, delete, toggle, and one
 * job by id. Auth is the app's job; the service validates schedules and owns the disk.
 */
export function createCronRouter(cron: CronService): Router {
  const router = new Router();

  router.get('/api/cron', (ctx) => {
    ctx.body = { status: 'ok', jobs: cron.list().map(publicJob) };
  });

  router.post('/api/cron/create', (ctx) => {
    const body = parse(createBody, ctx.request.body);
    const job = cron.create({
      name: body.name,
      schedule: body.schedule,
      at: body.at,
      message: body.message,
      channel: body.channel,
      chatId: body.chat_id,
      agentId: body.agentId,
      timezone: body.timezone,
      enabled: body.enabled,
    });
    ctx.body = { status: 'ok', job: publicJob(job) };
  });

  router.post('/api/cron/trigger', (ctx) => {
    const { job_id: id } = parse(triggerBody, ctx.request.body);
    cron.trigger(id);
    ctx.body = { status: 'ok', message: 'Task triggered' };
  });

  router.get('/api/cron/:id', (ctx) => {
    ctx.body = { status: 'ok', job: publicJob(cron.get(ctx.params.id!)) };
  });

  router.delete('/api/cron/:id', (ctx) => {
    cron.remove(ctx.params.id!);
    ctx.body = { status: 'ok' };
  });

  router.post('/api/cron/:id/toggle', (ctx) => {
    const { enabled } = parse(toggleBody, ctx.request.body ?? {});
    ctx.body = { status: 'ok', job: publicJob(cron.toggle(ctx.params.id!, enabled)) };
  });

  return router;
}

/** A job as the API shows it: the request's field names, the next and last run, the bounded run history and skipped occurrences (newest first). */
export function publicJob(job: JobView) {
  return {
    id: job.id,
    name: job.name,
    schedule: job.schedule,
    at: job.at,
    timezone: job.timezone,
    message: job.message,
    agentId: job.agentId,
    channel: job.channel,
    chat_id: job.chatId,
    enabled: job.enabled,
    session: job.session,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    nextRunAt: job.nextRunAt,
    lastRun: job.runs[0] ?? null,
    running: job.isRunning && job.running ? { trigger: job.running.trigger, scheduledFor: job.running.scheduledFor, startedAt: job.running.startedAt } : null,
    runs: job.runs,
    skipped: job.skipped,
  };
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw apiError('INVALID_REQUEST', result.error.issues[0]!.message);
}
