import Router from '@koa/router';
import { PassThrough } from 'node:stream';
import * as v from 'valibot';
import { followLog } from '../../src/log-follow.js';
import { LOG_LEVELS, entryLevel, parseEntry, type LogFilter } from '../../src/log-reader.js';
import { apiError } from '../http/errors.js';

// Proxies drop idle connections; a comment line every so often keeps a quiet log's stream open.
const SSE_KEEPALIVE_MS = 15_000;
const MAX_HISTORY_LINES = 1000;
const MAX_QUERY_LENGTH = 500;

const LEVEL_NAMES = Object.keys(LOG_LEVELS) as Array<keyof typeof LOG_LEVELS>;

/** The query of GET /api/logs/stream. */
export const LogsStreamQuery = v.object({
  level: v.optional(v.pipe(v.string('level must be given once'), v.toLowerCase(), v.picklist(LEVEL_NAMES, `level must be one of ${LEVEL_NAMES.join(', ')}`))),
  q: v.optional(v.pipe(v.string('q must be given once'), v.maxLength(MAX_QUERY_LENGTH, `q must be at most ${MAX_QUERY_LENGTH} characters`))),
  lines: v.optional(v.pipe(
    v.string('lines must be given once'),
    v.regex(/^\d{1,4}$/, `lines must be an integer from 0 to ${MAX_HISTORY_LINES}`),
    v.transform(Number),
    v.maxValue(MAX_HISTORY_LINES, `lines must be an integer from 0 to ${MAX_HISTORY_LINES}`),
  )),
});

/** The data of each `entry` event: one JSON log line as pino wrote it. */
export const LogEntryEvent = v.looseObject({ level: v.number(), time: v.number(), msg: v.optional(v.string()) });

/** The route's declaration, for the API document: method, path, input and what it answers. */
export const logsStreamRoute = {
  method: 'GET',
  path: '/api/logs/stream',
  summary: 'The live log: the last `lines` matching entries, then every new one, as server-sent events',
  query: LogsStreamQuery,
  response: { status: 200, contentType: 'text/event-stream', events: { entry: LogEntryEvent } },
} as const;

export interface LogsStreamRouterOptions {
  logFile: string;
  maxFiles: number;
  /** Aborted when the worker drains: each stream ends, and the client reconnects to the next worker. */
  draining: AbortSignal;
}

/**
 * `GET /api/logs/stream?level&q&lines`: server-sent events, `event: entry` with one log
 * entry each, oldest first, from the `lines` (default 0) newest matching entries on,
 * across rotations, until the client leaves or the worker drains.
 */
export function createLogsStreamRouter(options: LogsStreamRouterOptions): Router {
  const router = new Router();
  router.get(logsStreamRoute.path, async (ctx) => {
    const parsed = v.safeParse(LogsStreamQuery, ctx.query);
    if (!parsed.success) throw apiError('INVALID_REQUEST', parsed.issues[0].message);
    const { level, q, lines = 0 } = parsed.output;
    const filter: LogFilter = { ...(level ? { minLevel: LOG_LEVELS[level] } : {}), ...(q ? { q } : {}) };
    const matches = lineMatcher(filter);

    const stream = new PassThrough();
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = stream;
    ctx.req.socket.setNoDelay(true);
    stream.write(': stream open\n\n');

    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(keepalive);
      options.draining.removeEventListener('abort', end);
      void follower?.stop();
      stream.end();
    };
    const keepalive = setInterval(() => stream.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    ctx.res.once('close', end);
    options.draining.addEventListener('abort', end, { once: true });
    let follower: Awaited<ReturnType<typeof followLog>> | undefined;
    try {
      follower = await followLog(options.logFile, {
        lines,
        maxFiles: options.maxFiles,
        filter,
        onLine(raw) {
          if (ended) return;
          const entry = matches(raw);
          if (entry) stream.write(`event: entry\ndata: ${JSON.stringify(entry)}\n\n`);
        },
      });
    } catch (err) {
      // The headers are out: the error goes to the log, the client sees its stream end.
      ctx.app.emit('error', err, ctx);
      end();
      return;
    }
    if (ended) void follower.stop();
    void follower.failed.then((err) => {
      if (ended) return;
      ctx.app.emit('error', err, ctx);
      end();
    });
    if (options.draining.aborted) end();
  });
  return router;
}

/** The entry of a raw line when it is JSON and matches `filter`, else null. */
function lineMatcher(filter: LogFilter): (raw: string) => Record<string, unknown> | null {
  const q = filter.q ? new RegExp(filter.q.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'iu') : undefined;
  return (raw) => {
    if (q && !q.test(raw)) return null;
    const entry = parseEntry(raw);
    if (!entry) return null;
    if (filter.minLevel !== undefined && !(entryLevel(entry) >= filter.minLevel)) return null;
    return entry;
  };
}
