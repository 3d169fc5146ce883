import { cac, type CAC } from 'cac';
import { CONFIG_OPTION, helpWithoutCommand } from './cli-options.js';
import { CliError, EXIT } from '../cli-error.js';
import { VERSION } from '../version.js';
import { describeApiError } from './api-error.js';
import { resolveTarget, type TargetOptions } from './common.js';
import { findToken } from './find-token.js';

interface ClientOptions extends TargetOptions {
  token?: unknown;
  json?: boolean;
}

interface AddOptions extends ClientOptions {
  schedule?: unknown;
  at?: unknown;
  message?: unknown;
  name?: unknown;
  tz?: unknown;
  channel?: unknown;
  chatId?: unknown;
  agent?: unknown;
  disabled?: boolean;
}

interface ToggleOptions extends ClientOptions {
  enable?: boolean;
  disable?: boolean;
}

/** The parts of a job the CLI prints (the API's job JSON). */
interface JobJson {
  id: string;
  name: string | null;
  schedule: string | null;
  at: string | null;
  timezone: string;
  message: string;
  channel: string | null;
  chat_id: string | null;
  enabled: boolean;
  nextRunAt: string | null;
  lastRun: { startedAt: string; status: string; durationMs: number; error?: string } | null;
  running: { startedAt: string } | null;
}

const REQUEST_TIMEOUT_MS = 10_000;
const TOKEN_OPTION = ['--token <token>', "Gateway token (default: the running gateway's, asked over its control channel)"] as const;

/** `xopc cron list | add | rm | run | toggle`: manages the running gateway's cron jobs through its API. */
export function buildCronCli(): CAC {
  const cli = cac('xopc cron');

  helpWithoutCommand(cli);

  cli
    .command('list', 'List jobs with their next and last run')
    .option('--json', 'Print the jobs as JSON')
    .option(...CONFIG_OPTION)
    .option(...TOKEN_OPTION)
    .action(async (options: ClientOptions) => {
      const { jobs } = (await request(options, 'GET', '/api/cron')) as { jobs: JobJson[] };
      if (options.json) console.log(JSON.stringify(jobs, null, 2));
      else console.log(jobs.length === 0 ? 'No cron jobs. Add one with: xopc cron add --schedule "0 9 * * 1-5" --message "..."' : formatTable(jobs));
      return EXIT.OK;
    });

  cli
    .command('add', 'Create a job (recurring with --schedule, one-shot with --at)')
    .option('--schedule <expr>', 'Cron expression, 5 fields ("0 9 * * 1-5") or 6 with seconds first')
    .option('--at <time>', 'One-shot time, ISO 8601 ("2030-01-31T09:00", read in --tz unless it has an offset)')
    .option('--message <text>', 'What the agent is told at each run (required)')
    .option('--name <name>', 'A label for the job')
    .option('--tz <zone>', "IANA time zone (default: the gateway machine's)")
    .option('--channel <name>', 'Deliver replies to this channel (with --chat-id)')
    .option('--chat-id <id>', 'The chat to deliver to (negative ids: --chat-id=-100123)')
    .option('--agent <id>', 'Agent that runs the job (default: agents.default)')
    .option('--disabled', 'Create the job disabled')
    .option('--json', 'Print the created job as JSON')
    .option(...CONFIG_OPTION)
    .option(...TOKEN_OPTION)
    .action(async (options: AddOptions) => {
      if (options.message === undefined || options.message === true) throw new CliError('--message is required: what the agent is told at each run', EXIT.USAGE);
      if ((options.schedule === undefined) === (options.at === undefined)) throw new CliError('Give --schedule (recurring) or --at (one-shot), exactly one of them', EXIT.USAGE);
      const body: Record<string, unknown> = { message: String(options.message) };
      if (options.schedule !== undefined) body.schedule = String(options.schedule);
      if (options.at !== undefined) body.at = String(options.at);
      if (options.name !== undefined) body.name = String(options.name);
      if (options.tz !== undefined) body.timezone = String(options.tz);
      if (options.channel !== undefined) body.channel = String(options.channel);
      if (options.chatId !== undefined) body.chat_id = String(options.chatId);
      if (options.agent !== undefined) body.agentId = String(options.agent);
      if (options.disabled) body.enabled = false;
      const { job } = (await request(options, 'POST', '/api/cron/create', body)) as { job: JobJson };
      if (options.json) console.log(JSON.stringify(job, null, 2));
      else console.log(`✅ Created job ${job.id}${job.nextRunAt ? ` (next run ${job.nextRunAt})` : job.enabled ? '' : ' (disabled)'}`);
      return EXIT.OK;
    });

  cli
    .command('rm <id>', 'Delete a job')
    .option(...CONFIG_OPTION)
    .option(...TOKEN_OPTION)
    .action(async (id: unknown, options: ClientOptions) => {
      await request(options, 'DELETE', `/api/cron/${encodeURIComponent(String(id))}`);
      console.log(`✅ Deleted job ${String(id)}`);
      return EXIT.OK;
    });

  cli
    .command('run <id>', 'Run a job now, outside its schedule')
    .option(...CONFIG_OPTION)
    .option(...TOKEN_OPTION)
    .action(async (id: unknown, options: ClientOptions) => {
      await request(options, 'POST', '/api/cron/trigger', { job_id: String(id) });
      console.log(`✅ Job ${String(id)} triggered (see its result with: xopc cron list)`);
      return EXIT.OK;
    });

  cli
    .command('toggle <id>', 'Disable an enabled job or enable a disabled one')
    .option('--enable', 'Enable it (no change if it already is)')
    .option('--disable', 'Disable it (no change if it already is)')
    .option(...CONFIG_OPTION)
    .option(...TOKEN_OPTION)
    .action(async (id: unknown, options: ToggleOptions) => {
      if (options.enable && options.disable) throw new CliError('Give --enable or --disable, not both', EXIT.USAGE);
      const body = options.enable ? { enabled: true } : options.disable ? { enabled: false } : {};
      const { job } = (await request(options, 'POST', `/api/cron/${encodeURIComponent(String(id))}/toggle`, body)) as { job: JobJson };
      console.log(`✅ Job ${job.id} ${job.enabled ? `enabled${job.nextRunAt ? ` (next run ${job.nextRunAt})` : ''}` : 'disabled'}`);
      return EXIT.OK;
    });

  cli.help();
  cli.version(VERSION);
  return cli;
}

/** Calls the running gateway's API with its token; API errors become one-line CLI errors. */
async function request(options: ClientOptions, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const target = resolveTarget(options);
  const { lock } = target;
  if (lock.state !== 'held' || !lock.info.port) {
    throw new CliError('Gateway is not running. Start it with: xopc gateway', EXIT.NOT_RUNNING);
  }
  const token = options.token !== undefined ? String(options.token) : (await findToken(target)).token;
  if (!token) throw new CliError('No gateway token: pass --token, set XOPC_GATEWAY_TOKEN, or see `xopc gateway token`');
  const host = lock.info.host === undefined || lock.info.host === '0.0.0.0' || lock.info.host === '::' ? '127.0.0.1' : lock.info.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${lock.info.port}${path}`;

  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new CliError(`Cannot reach the gateway at ${url}: ${(err as Error).message}`);
  }
  let json: Record<string, any> = {};
  try {
    json = (await response.json()) as Record<string, any>;
  } catch {
    /* described below */
  }
  if (!response.ok) throw new CliError(describeApiError(response.status, json, response.headers.get('retry-after')));
  return json;
}

function formatTable(jobs: JobJson[]): string {
  const rows = [['ID', 'STATE', 'SCHEDULE', 'NEXT RUN', 'LAST RUN', 'NAME / MESSAGE']];
  for (const job of jobs) {
    const last = job.lastRun;
    rows.push([
      job.id,
      job.running ? 'running' : job.enabled ? 'enabled' : 'disabled',
      `${job.schedule ?? `at ${job.at}`} (${job.timezone})`,
      job.nextRunAt ?? '-',
      last ? `${last.startedAt} ${last.status}${last.error ? `: ${clip(last.error, 60)}` : ''}` : '-',
      clip(job.name ?? job.message, 50) + (job.channel ? ` -> ${job.channel}:${job.chat_id}` : ''),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}

function clip(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
