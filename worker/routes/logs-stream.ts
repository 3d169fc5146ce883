import type Koa from 'koa';
import * as v from 'valibot';
import { followLog, type LogFollower } from '../../src/log-follow.js';
import { LOG_LEVELS, entryLevel, formatPosition, parseEntry, type LogFilter } from '../../src/log-reader.js';
import type { Routes } from '../http/lazy-routes.js';
import { route, routeGroup } from '../http/route.js';
import { queryInteger, queryText } from '../http/validate.js';
import { openEventStream } from '../http/event-stream.js';

// Proxies drop idle connections; a comment line every so often keeps a quiet log's stream open.
const SSE_KEEPALIVE_MS = 15_000;
const MAX_HISTORY_LINES = 1000;
const MAX_QUERY_LENGTH = 500;

const LEVEL_NAMES = Object.keys(LOG_LEVELS) as Array<keyof typeof LOG_LEVELS>;

/** The query of GET /api/logs/stream. */
const streamQuery = v.object({
  lines: v.optional(queryInteger('lines', 0, MAX_HISTORY_LINES), '0'),
  level: v.optional(v.pipe(
    queryText('level', `level must be one of ${LEVEL_NAMES.join(', ')}`),
    v.toLowerCase(),
    v.picklist(LEVEL_NAMES, `level must be one of ${LEVEL_NAMES.join(', ')}`),
    v.description(`minimum level: ${LEVEL_NAMES.join(', ')}`),
  )),
  q: v.optional(v.pipe(
    queryText('q', 'q must be a string'),
    v.maxLength(MAX_QUERY_LENGTH, `q must be at most ${MAX_QUERY_LENGTH} characters`),
    v.description('substring the line must contain'),
  )),
});

/** The data of each `entry` event: one JSON log line as pino wrote it. */
const entryEvent = v.looseObject({ level: v.number(), time: v.number(), msg: v.optional(v.string()) });
/** The data of the `history` event, once the newest `lines` entries are sent. */
const historyEvent = v.object({
  before: v.pipe(v.nullable(v.string()), v.description('a cursor for `GET /api/logs?before=`: the entries just before the first one this stream sent; null when there are none')),
});

export interface LogsStreamRouterOptions {
  logFile: string;
  maxFiles: number;
  /** Aborted when the worker drains: each stream ends, and the client reconnects to the next worker. */
  draining: AbortSignal;
}

/**
 * `GET /api/logs/stream?lines&level&q`: server-sent events, `event: entry` with one log
 * entry each, oldest first, from the `lines` (default 0) newest matching entries on,
 * across rotations, until the client leaves or the worker drains; after those first
 * entries, `event: history` with the cursor for the entries before them.
 */
export function createLogsStreamRouter(options: LogsStreamRouterOptions): Routes {
  const stream = route({
    operationId: 'streamLogs',
    method: 'GET',
    path: '/api/logs/stream',
    tag: 'gateway',
    summary: 'The live log: the newest matching entries, then every new one, as server-sent events',
    description: 'Each `entry` event holds one log entry. Once the newest `lines` entries are sent, a `history` event gives the cursor to read the entries before them with `GET /api/logs?before=`. A comment line every 15 s keeps the stream open. The stream ends when the worker drains for a stop or restart: reconnect to follow the next worker.',
    query: streamQuery,
    responses: { 200: { description: 'An event stream of log entries', contentType: 'text/event-stream', eventStream: v.union([entryEvent, historyEvent]) } },
    errors: [],
    example: { query: { lines: '10', level: 'info' } },
  }, async (ctx, { query }) => {
    const filter: LogFilter = { ...(query.level ? { minLevel: LOG_LEVELS[query.level] } : {}), ...(query.q ? { q: query.q } : {}) };
    await streamEntries(ctx, options, query.lines, filter);
  });
  return routeGroup([stream]);
}

/** Answers with an event stream now and writes matching log entries into it as they are written. */
async function streamEntries(ctx: Koa.Context, options: LogsStreamRouterOptions, lines: number, filter: LogFilter): Promise<void> {
  const matches = lineMatcher(filter);
  const stream = openEventStream(ctx);
  stream.write(': stream open\n\n');

  let ended = false;
  let follower: LogFollower | undefined;
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
  // After the history (and any line written meanwhile): where reading back from this stream's first entry starts.
  else stream.write(`event: history\ndata: ${JSON.stringify({ before: follower.before && formatPosition(follower.before) })}\n\n`);
  void follower.failed.then((err) => {
    if (ended) return;
    ctx.app.emit('error', err, ctx);
    end();
  });
  if (options.draining.aborted) end();
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
