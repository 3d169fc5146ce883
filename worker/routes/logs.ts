import * as v from 'valibot';
import { LOG_LEVELS, formatPosition, parseLevel, parsePosition, parseSince, readLogEntriesPage, type LogQuery } from '../../src/log-reader.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import { queryText } from '../http/validate.js';

export interface LogsRouterOptions {
  /** The current log file (`gateway.log`); rotated files are `<logFile>.1` ... */
  logFile: string;
  /** How many rotated files exist at most (`logging.maxFiles`). */
  maxFiles: number;
}

const DEFAULT_LINES = 100;
const MAX_LINES = 5000;
const MAX_QUERY_LENGTH = 500;

const LINES_MESSAGE = `lines must be an integer from 1 to ${MAX_LINES}`;
const LEVELS = Object.keys(LOG_LEVELS).join(', ');
const SINCE_MESSAGE = 'since must be an ISO 8601 time, epoch milliseconds or a duration such as 15m, 2h, 1d';
const BEFORE_MESSAGE = 'before must be a cursor as an earlier answer gave it in "before" (such as 1234-5678)';

const got = (issue: { input: unknown }) => ` (got "${clip(String(issue.input))}")`;

/** The query string; `since` is checked here and converted to a time by the handler. */
const logQuery = v.object({
  lines: v.optional(v.pipe(
    queryText('lines', LINES_MESSAGE),
    v.regex(/^\d{1,9}$/, (issue) => LINES_MESSAGE + got(issue)),
    v.transform(Number),
    v.number(),
    v.integer(),
    v.minValue(1, (issue) => LINES_MESSAGE + got(issue)),
    v.maxValue(MAX_LINES, (issue) => LINES_MESSAGE + got(issue)),
  ), String(DEFAULT_LINES)),
  level: v.optional(v.pipe(
    queryText('level', `level must be one of ${LEVELS}`),
    v.check((level) => parseLevel(level) !== undefined, (issue) => `level must be one of ${LEVELS}${got(issue)}`),
    v.description(`minimum level: ${LEVELS}`),
  )),
  since: v.optional(v.pipe(
    queryText('since', SINCE_MESSAGE),
    v.check((since) => parseSince(plusSign(since)) !== undefined, (issue) => SINCE_MESSAGE + got(issue)),
    v.description('ISO 8601 time, epoch milliseconds, or a duration back from now (15m, 2h, 1d)'),
  )),
  q: v.optional(v.pipe(
    queryText('q', 'q must be a string'),
    v.maxLength(MAX_QUERY_LENGTH, `q must be at most ${MAX_QUERY_LENGTH} characters`),
    v.description('substring the line must contain'),
  )),
  before: v.optional(v.pipe(
    queryText('before', BEFORE_MESSAGE),
    v.check((before) => parsePosition(before) !== undefined, (issue) => BEFORE_MESSAGE + got(issue)),
    v.description('a cursor from an earlier answer\'s `before` (or the live log\'s `history` event): only entries logged before that point, to page back through the log'),
  )),
});

const entriesReply = v.object({
  status: v.literal('ok'),
  entries: v.array(v.looseObject({})),
  before: v.pipe(v.nullable(v.string()), v.description('pass as `?before=` (with the same filter) for the entries just before these; null when there are none')),
});

/**
 * `GET /api/logs?lines&level&since&q&before`: the newest matching JSON log entries, oldest
 * first (before the cursor `before`, when given), and the cursor for the entries before
 * them. Auth is the app's job; this router only validates and reads.
 */
export function createLogsRouter(options: LogsRouterOptions): Routes {
  const logs = route({
    operationId: 'readLogs',
    method: 'GET',
    path: '/api/logs',
    tag: 'gateway',
    summary: 'The newest matching log entries, oldest first',
    query: logQuery,
    responses: { 200: { description: 'Log entries (pino JSON lines)', schema: entriesReply } },
    errors: [],
    example: { query: { lines: '20', level: 'warn' } },
  }, async (ctx, { query }) => {
    const before = query.before === undefined ? undefined : parsePosition(query.before);
    const page = await readLogEntriesPage(options.logFile, toLogQuery(query), options.maxFiles, { before });
    ctx.body = { status: 'ok', entries: page.lines, before: page.before && formatPosition(page.before) };
  });
  return routeGroup([logs]);
}

function toLogQuery(query: v.InferOutput<typeof logQuery>, now: number = Date.now()): LogQuery {
  const result: LogQuery = { lines: query.lines };
  if (query.level !== undefined) result.minLevel = parseLevel(query.level);
  if (query.since !== undefined) result.since = parseSince(plusSign(query.since), now);
  if (query.q) result.q = query.q;
  return result;
}

/** An unencoded "+01:00" offset arrives as " 01:00" (a query string's + is a space). */
function plusSign(since: string): string {
  return since.replace(/ (\d{2}:?\d{2})$/, '+$1');
}

/** Echoes a bad value back without letting a huge one fill the error message. */
function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}...` : value;
}
