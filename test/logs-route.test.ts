import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { ApiError, errorBody } from '../worker/http/errors.js';
import { createLogsRouter } from '../worker/routes/logs.js';

/** The router behind a minimal stand-in for the app's error middleware, on port 0. */
async function startApp(t: { after: (fn: () => Promise<void> | void) => void }, logFile: string): Promise<string> {
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      ctx.status = err.status;
      ctx.body = errorBody(err.code, err.message);
    }
  });
  app.use(createLogsRouter({ logFile, maxFiles: 2 }).routes());
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/logs`;
}

function tempLog(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-logs-route-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'gateway.log');
}

test('GET /api/logs rejects bad query values with INVALID_REQUEST naming the parameter', async (t) => {
  const url = await startApp(t, tempLog(t));
  const cases: Array<[string, RegExp]> = [
    ['lines=0', /^lines /],
    ['lines=5001', /^lines /],
    ['lines=abc', /^lines /],
    ['lines=1.5', /^lines /],
    ['lines=', /^lines /],
    ['lines=1&lines=2', /^lines must be given once/],
    ['level=verbose', /^level must be one of trace, debug, info, warn, error, fatal/],
    ['since=yesterday', /^since must be/],
    ['since=-5m', /^since must be/],
    [`q=${'a'.repeat(501)}`, /^q must be at most 500/],
  ];
  for (const [query, message] of cases) {
    const res = await fetch(`${url}?${query}`);
    assert.equal(res.status, 400, query);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'INVALID_REQUEST', query);
    assert.match(body.error.message, message, query);
  }
});

test('GET /api/logs returns the newest matching entries, oldest first', async (t) => {
  const file = tempLog(t);
  const now = Date.now();
  const line = (level: number, ageMs: number, msg: string) => JSON.stringify({ level, time: now - ageMs, pid: 1, proc: 'worker', msg });
  writeFileSync(`${file}.1`, [line(50, 3 * 3_600_000, 'old failure'), line(30, 3_600_000, 'hour ago')].join('\n') + '\n');
  writeFileSync(file, [line(40, 60_000, 'Slow request'), 'plain text', line(30, 1000, 'request done'), line(50, 500, 'send failed')].join('\n') + '\n');
  const url = await startApp(t, file);

  const get = async (query: string) => {
    const res = await fetch(`${url}?${query}`);
    assert.equal(res.status, 200, query);
    const body = (await res.json()) as { status: string; entries: Array<{ msg: string }> };
    assert.equal(body.status, 'ok');
    return body.entries.map((e) => e.msg);
  };
  assert.deepEqual(await get(''), ['old failure', 'hour ago', 'Slow request', 'request done', 'send failed']);
  assert.deepEqual(await get('lines=2'), ['request done', 'send failed']);
  assert.deepEqual(await get('level=WARN'), ['old failure', 'Slow request', 'send failed']);
  assert.deepEqual(await get('level=error&since=2h'), ['send failed']);
  assert.deepEqual(await get(`since=${now - 90_000}`), ['Slow request', 'request done', 'send failed']);
  assert.deepEqual(await get(`since=${encodeURIComponent(new Date(now - 2 * 3_600_000).toISOString())}`), ['hour ago', 'Slow request', 'request done', 'send failed']);
  const offset = new Date(now - 90_000 + 3_600_000).toISOString().replace('Z', '+01:00');
  assert.deepEqual(await get(`since=${offset}`), ['Slow request', 'request done', 'send failed'], 'unencoded + in the offset');
  assert.deepEqual(await get('q=REQUEST'), ['Slow request', 'request done']);
  assert.deepEqual(await get('q='), ['old failure', 'hour ago', 'Slow request', 'request done', 'send failed']);
});

test('GET /api/logs with no log file yet answers an empty list', async (t) => {
  const url = await startApp(t, tempLog(t));
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok', entries: [] });
});
