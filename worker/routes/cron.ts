import * as v from 'valibot';
import type { CronService, JobView } from '../cron/cron-service.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';

const text = (field: string) => v.string(`${field} must be a string`);
/** A message for a missing field and another for a wrong type. */
const required = (missing: string, wrongType: string) => (issue: { input: unknown }) => (issue.input === undefined ? missing : wrongType);

const createBody = v.object({
  name: v.optional(v.nullable(text('name'))),
  schedule: v.optional(v.pipe(text('schedule'), v.description('5-field cron expression, 6-field (seconds first), or a nickname such as @daily'))),
  at: v.optional(v.pipe(text('at'), v.description('one-shot ISO 8601 time'))),
  message: v.string(required('message is required: what the agent is told at each run', 'message must be a string')),
  channel: v.optional(text('channel')),
  // Telegram chat ids arrive as numbers (negative for groups).
  chat_id: v.optional(v.union(
    [v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(128)), v.pipe(v.number(), v.integer(), v.transform(String))],
    'chat_id must be a string (1-128 characters) or an integer',
  )),
  agentId: v.optional(text('agentId')),
  timezone: v.optional(v.pipe(text('timezone'), v.description('IANA time zone; default the machine\'s'))),
  enabled: v.optional(v.boolean('enabled must be true or false')),
}, 'body must be a JSON object with "schedule" (or "at") and "message"');

const triggerBody = v.object({
  job_id: v.pipe(v.string(required('job_id is required', 'job_id must be a string')), v.minLength(1, 'job_id must not be empty')),
}, 'body must be a JSON object with a "job_id" string');

const toggleBody = v.object({
  enabled: v.optional(v.boolean('enabled must be true or false')),
}, 'body must be a JSON object');

const idParams = v.object({ id: v.string() });

const nullableText = v.nullable(v.string());
const runSchema = v.object({
  trigger: v.picklist(['schedule', 'catch-up', 'manual']),
  scheduledFor: nullableText,
  startedAt: v.string(),
  finishedAt: v.string(),
  durationMs: v.number(),
  status: v.picklist(['ok', 'error']),
  error: v.optional(v.string()),
  reply: v.optional(v.string()),
  deliveredTo: v.optional(v.string()),
  resumed: v.optional(v.boolean()),
});
const jobSchema = v.object({
  id: v.string(),
  name: nullableText,
  schedule: nullableText,
  at: nullableText,
  timezone: v.string(),
  message: v.string(),
  agentId: v.string(),
  channel: nullableText,
  chat_id: nullableText,
  enabled: v.boolean(),
  session: v.string(),
  createdAt: v.string(),
  updatedAt: v.string(),
  nextRunAt: nullableText,
  lastRun: v.nullable(runSchema),
  running: v.nullable(v.object({ trigger: v.picklist(['schedule', 'catch-up', 'manual']), scheduledFor: nullableText, startedAt: v.string() })),
  runs: v.array(runSchema),
  skipped: v.array(v.object({ scheduledFor: v.string(), coveredBy: v.string() })),
});
const jobReply = v.object({ status: v.literal('ok'), job: jobSchema });
const ok = v.object({ status: v.literal('ok') });
// The contract test creates a job and uses its id; the document shows this shape.
const EXAMPLE_JOB_ID = 'j_0123456789ab';

/**
 * `/api/cron`: list (with next and last run), create, trigger, delete, toggle, and one
 * job by id. Auth is the app's job; the service validates schedules and owns the disk.
 */
export function createCronRouter(cron: CronService): Routes {
  const list = route({
    operationId: 'listCronJobs',
    method: 'GET',
    path: '/api/cron',
    tag: 'cron',
    summary: 'Every job with its next and last run',
    responses: { 200: { description: 'The jobs', schema: v.object({ status: v.literal('ok'), jobs: v.array(jobSchema) }) } },
    errors: [],
    example: {},
  }, (ctx) => {
    ctx.body = { status: 'ok', jobs: cron.list().map(publicJob) };
  });

  const create = route({
    operationId: 'createCronJob',
    method: 'POST',
    path: '/api/cron/create',
    tag: 'cron',
    summary: 'Create a job',
    body: createBody,
    responses: { 200: { description: 'The new job', schema: jobReply } },
    errors: ['CHANNEL_NOT_FOUND'],
    example: { body: { name: 'morning', schedule: '0 8 * * *', message: 'Good morning! What is on today?', timezone: 'Europe/Berlin' } },
  }, (ctx, { body }) => {
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

  const trigger = route({
    operationId: 'triggerCronJob',
    method: 'POST',
    path: '/api/cron/trigger',
    tag: 'cron',
    summary: 'Run a job now (INVALID_REQUEST while it is running)',
    body: triggerBody,
    responses: { 200: { description: 'Started', schema: v.object({ status: v.literal('ok'), message: v.string() }) } },
    errors: ['JOB_NOT_FOUND'],
    example: { body: { job_id: EXAMPLE_JOB_ID } },
  }, (ctx, { body }) => {
    cron.trigger(body.job_id);
    ctx.body = { status: 'ok', message: 'Task triggered' };
  });

  const get = route({
    operationId: 'getCronJob',
    method: 'GET',
    path: '/api/cron/:id',
    tag: 'cron',
    summary: 'One job',
    params: idParams,
    responses: { 200: { description: 'The job', schema: jobReply } },
    errors: ['JOB_NOT_FOUND'],
    example: { params: { id: EXAMPLE_JOB_ID } },
  }, (ctx, { params }) => {
    ctx.body = { status: 'ok', job: publicJob(cron.get(params.id)) };
  });

  const remove = route({
    operationId: 'deleteCronJob',
    method: 'DELETE',
    path: '/api/cron/:id',
    tag: 'cron',
    summary: 'Delete a job',
    params: idParams,
    responses: { 200: { description: 'Deleted', schema: ok } },
    errors: ['JOB_NOT_FOUND'],
    example: { params: { id: EXAMPLE_JOB_ID } },
  }, (ctx, { params }) => {
    cron.remove(params.id);
    ctx.body = { status: 'ok' };
  });

  const toggle = route({
    operationId: 'toggleCronJob',
    method: 'POST',
    path: '/api/cron/:id/toggle',
    tag: 'cron',
    summary: 'Flip a job between enabled and disabled, or set `enabled`',
    params: idParams,
    body: toggleBody,
    bodyOptional: true,
    responses: { 200: { description: 'The job', schema: jobReply } },
    errors: ['JOB_NOT_FOUND'],
    example: { params: { id: EXAMPLE_JOB_ID }, body: { enabled: false } },
  }, (ctx, { params, body }) => {
    ctx.body = { status: 'ok', job: publicJob(cron.toggle(params.id, body.enabled)) };
  });

  return routeGroup([list, create, trigger, get, remove, toggle]);
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
