import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
    ['before=12', /^before must be a cursor/],
    ['before=-1-5', /^before must be a cursor/],
    ['before=1-2-3', /^before must be a cursor/],
    ['before=99999999999999999-1', /^before must be a cursor/],
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
  assert.deepEqual(await res.json(), { status: 'ok', entries: [], before: null });
});

test('GET /api/logs?before pages back through the log: every entry once, none skipped, across a rotation between pages', async (t) => {
  const file = tempLog(t);
  const line = (i: number) => JSON.stringify({ level: i % 3 === 0 ? 40 : 30, time: 1_700_000_000_000 + i, pid: 1, msg: `line ${i}` });
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
  writeFileSync(`${file}.1`, range(0, 23).map(line).join('\n') + '\n');
  writeFileSync(file, range(23, 50).map(line).join('\n') + '\n');
  const url = await startApp(t, file);
  const page = async (query: string) => {
    const res = await fetch(`${url}?${query}`);
    assert.equal(res.status, 200, query);
    const body = (await res.json()) as { entries: Array<{ msg: string }>; before: string | null };
    return { msgs: body.entries.map((e) => Number(e.msg.slice(5))), before: body.before };
  };

  for (const filter of ['', '&level=warn']) {
    // The second round starts after the first one's rotation, which added 50-59.
    const expected = range(0, filter === '' ? 50 : 60).filter((i) => filter === '' || i % 3 === 0);
    let { msgs: seen, before } = await page(`lines=7${filter}`);
    assert.deepEqual(seen, expected.slice(-7));
    for (let pages = 0; before !== null; pages++) {
      assert.ok(pages < 20, 'the paging ends');
      if (filter === '' && pages === 2) {
        // The log rotates between two pages: the cursor names the file by inode, so it still holds.
        renameSync(`${file}.1`, `${file}.2`);
        renameSync(file, `${file}.1`);
        writeFileSync(file, range(50, 60).map(line).join('\n') + '\n');
      }
      const next = await page(`lines=7${filter}&before=${before}`);
      seen = [...next.msgs, ...seen];
      before = next.before;
    }
    assert.deepEqual(seen, expected, `every entry once, in order${filter}`);
  }
});
