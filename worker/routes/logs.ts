import Router from '@koa/router';
import { apiError } from '../http/errors.js';
import { LOG_LEVELS, parseLevel, parseSince, readLogEntries, type LogQuery } from '../../src/log-reader.js';

export interface LogsRouterOptions {
  /** The current log file (`gateway.log`); rotated files are `<logFile>.1` ... */
  logFile: string;
  /** How many rotated files exist at most (`logging.maxFiles`). */
  maxFiles: number;
}

const DEFAULT_LINES = 100;
const MAX_LINES = 5000;
const MAX_QUERY_LENGTH = 500;

/**
 * `GET /api/logs?lines&level&since&q`: the newest matching JSON log entries, oldest
 * first. Auth is the app's job; this router only validates and reads.
 */
export function createLogsRouter(options: LogsRouterOptions): Router {
  const router = new Router();
  router.get('/api/logs', async (ctx) => {
    const query = parseLogQuery(ctx.query);
    const entries = await readLogEntries(options.logFile, query, options.maxFiles);
    ctx.body = { status: 'ok', entries };
  });
  return router;
}

/** Validates the query string; every problem is an INVALID_REQUEST naming the parameter. */
export function parseLogQuery(raw: Record<string, string | string[] | undefined>, now: number = Date.now()): LogQuery {
  const lines = single(raw, 'lines');
  const level = single(raw, 'level');
  const since = single(raw, 'since');
  const q = single(raw, 'q');
  const query: LogQuery = { lines: DEFAULT_LINES };

  if (lines !== undefined) {
    const n = /^\d{1,9}$/.test(lines) ? Number(lines) : Number.NaN;
    if (!(n >= 1 && n <= MAX_LINES)) throw apiError('INVALID_REQUEST', `lines must be an integer from 1 to ${MAX_LINES} (got "${clip(lines)}")`);
    query.lines = n;
  }
  if (level !== undefined) {
    query.minLevel = parseLevel(level);
    if (query.minLevel === undefined) throw apiError('INVALID_REQUEST', `level must be one of ${Object.keys(LOG_LEVELS).join(', ')} (got "${clip(level)}")`);
  }
  if (since !== undefined) {
    // An unencoded "+01:00" offset arrives as " 01:00" (a query string's + is a space).
    query.since = parseSince(since.replace(/ (\d{2}:?\d{2})$/, '+$1'), now);
    if (query.since === undefined) throw apiError('INVALID_REQUEST', `since must be an ISO 8601 time, epoch milliseconds or a duration such as 15m, 2h, 1d (got "${clip(since)}")`);
  }
  if (q !== undefined) {
    if (q.length > MAX_QUERY_LENGTH) throw apiError('INVALID_REQUEST', `q must be at most ${MAX_QUERY_LENGTH} characters`);
    if (q !== '') query.q = q;
  }
  return query;
}

function single(raw: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = raw[name];
  if (Array.isArray(value)) throw apiError('INVALID_REQUEST', `${name} must be given once`);
  return value;
}

/** Echoes a bad value back without letting a huge one fill the error message. */
function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}...` : value;
}
