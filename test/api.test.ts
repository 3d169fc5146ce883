import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Router from '@koa/router';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp, type AppOptions } from '../worker/app.js';
import { apiError } from '../worker/http/errors.js';

const TOKEN = 'test-token-0123456789abcdef';
const SECRET_MESSAGE = 'database password is hunter2';
const TIMEOUT_MS = 2000;

/** A pino destination that keeps parsed lines and says when one arrives. */
class MemoryLog extends EventEmitter {
  lines: Array<Record<string, any>> = [];
  write(chunk: string): void {
    for (const text of chunk.split('\n')) {
      if (!text) continue;
      const line = JSON.parse(text) as Record<string, any>;
      this.lines.push(line);
      this.emit('line', line);
    }
  }
  /** Resolves with the first line (past or future) matching `match`, or fails after a bounded wait. */
  async waitFor(match: (line: Record<string, any>) => boolean): Promise<Record<string, any>> {
    const found = this.lines.find(match);
    if (found) return found;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('line', onLine);
        reject(new Error('log line not written in time'));
      }, TIMEOUT_MS);
      const onLine = (line: Record<string, any>) => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.off('line', onLine);
        resolve(line);
      };
      this.on('line', onLine);
    });
  }
}

interface Harness {
  url: string;
  port: number;
  log: MemoryLog;
  close(): Promise<void>;
}

const logDir = mkdtempSync(join(tmpdir(), 'xopc-api-test-'));
const logFile = join(logDir, 'gateway.log');
writeFileSync(logFile, '');

function testRouter(): Router {
  const router = new Router();
  router.post('/api/echo', (ctx) => {
    ctx.body = { status: 'ok', body: ctx.request.body, raw: ctx.request.rawBody };
  });
  router.get('/api/echo', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // Requested by the log test only, so its lines are easy to count.
  router.get('/api/log-probe', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/api/boom', () => {
    throw new Error(SECRET_MESSAGE);
  });
  router.get('/api/sessions/:key', (ctx) => {
    throw apiError('SESSION_NOT_FOUND', `No session ${ctx.params.key}`);
  });
  router.get('/api/throw-400', (ctx) => {
    ctx.throw(400, 'name is required');
  });
  router.post('/api/webhook/:channel', (ctx) => {
    ctx.body = { status: 'ok', channel: ctx.params.channel, raw: ctx.request.rawBody };
  });
  return router;
}

async function start(overrides: { cors?: string[]; authLimits?: AppOptions['authLimits']; startedAt?: number; lockoutLoopback?: boolean } = {}): Promise<Harness> {
  const config = configSchema.parse({
    gateway: { auth: { token: TOKEN, lockoutLoopback: overrides.lockoutLoopback ?? false }, bodyLimit: '1kb', cors: { origins: overrides.cors ?? [] } },
  });
  const log = new MemoryLog();
  const logger = createLogger('worker', 'info', log);
  const app = createApp({
    config,
    logger,
    logFile,
    routers: [testRouter()],
    // Every test here comes from 127.0.0.1; only the lockout tests want a small limit.
    authLimits: overrides.authLimits ?? { maxFailures: 1000 },
    ...(overrides.startedAt === undefined ? {} : { startedAt: overrides.startedAt }),
  });
  const server = http.createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

/**
 * One request over a fresh connection with node:http, so tests control exactly what is
 * sent: `chunks` are written one by one (chunked encoding unless Content-Length is set).
 * Resolves with the response even if the server closes while the body is still going
 * out (as it does for 413).
 */
function send(port: number, method: string, path: string, options: { headers?: Record<string, string>; chunks?: Array<string | Buffer> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: options.headers, agent: false, timeout: TIMEOUT_MS });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no response to ${method} ${path} in time`)));
    // EPIPE/ECONNRESET while still uploading is expected once the server has answered.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end();
  });
}

const auth = { authorization: `Bearer ${TOKEN}` };
const jsonType = { 'content-type': 'application/json' };

function json(port: number, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const text = JSON.stringify(body);
  return send(port, method, path, { headers: { ...jsonType, 'content-length': String(Buffer.byteLength(text)), ...headers }, chunks: [text] });
}

/** Every error answers exactly `{error: {code, message}}` with a non-empty string message. */
function assertError(reply: Reply, status: number, code: string): string {
  assert.equal(reply.status, status, reply.text);
  assert.match(String(reply.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(reply.json ?? {}), ['error'], reply.text);
  assert.deepEqual(Object.keys(reply.json.error).sort(), ['code', 'message'], reply.text);
  assert.equal(reply.json.error.code, code);
  assert.equal(typeof reply.json.error.message, 'string');
  assert.ok(reply.json.error.message.length > 0);
  return reply.json.error.message as string;
}

after(() => rmSync(logDir, { recursive: true, force: true }));

describe('worker HTTP app', { timeout: 20_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await start({ startedAt: Date.now() - 5500 });
  });
  after(() => h.close());

  test('GET /health is open and reports whole seconds of uptime', async () => {
    const reply = await send(h.port, 'GET', '/health');
    assert.equal(reply.status, 200);
    assert.deepEqual(Object.keys(reply.json).sort(), ['status', 'uptime']);
    assert.equal(reply.json.status, 'healthy');
    assert.ok(Number.isInteger(reply.json.uptime) && reply.json.uptime >= 5 && reply.json.uptime < 60, String(reply.json.uptime));
  });

  test('/api needs the bearer token', async () => {
    const missing = await send(h.port, 'GET', '/api/echo');
    assert.match(assertError(missing, 401, 'UNAUTHORIZED'), /Authorization/);
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/);

    const wrong = await send(h.port, 'GET', '/api/echo', { headers: { authorization: 'Bearer not-the-token' } });
    assertError(wrong, 401, 'UNAUTHORIZED');
    assert.match(String(wrong.headers['www-authenticate']), /^Bearer/);

    const otherScheme = await send(h.port, 'GET', '/api/echo', { headers: { authorization: `Basic ${TOKEN}` } });
    assertError(otherScheme, 401, 'UNAUTHORIZED');

    const right = await send(h.port, 'GET', '/api/echo', { headers: auth });
    assert.equal(right.status, 200);
    assert.deepEqual(right.json, { status: 'ok' });

    const lowerScheme = await send(h.port, 'GET', '/api/echo', { headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(lowerScheme.status, 200);
  });

  test('the router matches case-insensitively, and so does the auth gate', async () => {
    assertError(await send(h.port, 'GET', '/API/echo'), 401, 'UNAUTHORIZED');
    assertError(await send(h.port, 'GET', '/Api/sessions/x'), 401, 'UNAUTHORIZED');
  });

  test('/api/webhook/:channel does not take the bearer token', async () => {
    const reply = await json(h.port, 'POST', '/api/webhook/test', { hello: 'world' });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.channel, 'test');
    assert.equal(reply.json.raw, '{"hello":"world"}');
    // Only the exact route shape is open.
    assertError(await send(h.port, 'GET', '/api/webhook/test/more'), 401, 'UNAUTHORIZED');
  });

  test('unknown routes: 401 without a token under /api, 404 NOT_FOUND otherwise; a wrong method is 405', async () => {
    assertError(await send(h.port, 'GET', '/api/nope'), 401, 'UNAUTHORIZED');
    assert.match(assertError(await send(h.port, 'GET', '/api/nope', { headers: auth }), 404, 'NOT_FOUND'), /GET \/api\/nope/);
    assertError(await send(h.port, 'GET', '/nope'), 404, 'NOT_FOUND');
    const wrongMethod = await send(h.port, 'DELETE', '/api/echo', { headers: auth });
    assert.match(assertError(wrongMethod, 405, 'METHOD_NOT_ALLOWED'), /DELETE/);
    assert.equal(wrongMethod.headers.allow, 'POST, HEAD, GET');
  });

  test('the logs router is mounted behind auth', async () => {
    assertError(await send(h.port, 'GET', '/api/logs'), 401, 'UNAUTHORIZED');
    const reply = await send(h.port, 'GET', '/api/logs?lines=5', { headers: auth });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.status, 'ok');
  });

  test('JSON bodies are parsed and the raw text kept', async () => {
    const reply = await json(h.port, 'POST', '/api/echo', { a: 1, b: ['x'] }, auth);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json.body, { a: 1, b: ['x'] });
    assert.equal(reply.json.raw, '{"a":1,"b":["x"]}');

    const chunked = await send(h.port, 'POST', '/api/echo', { headers: { ...auth, ...jsonType }, chunks: ['{"a":', '2}'] });
    assert.equal(chunked.status, 200, chunked.text);
    assert.deepEqual(chunked.json.body, { a: 2 });

    const empty = await send(h.port, 'POST', '/api/echo', { headers: auth });
    assert.equal(empty.status, 200, empty.text);
  });

  test('malformed JSON is 400 INVALID_REQUEST', async () => {
    const headers = { ...auth, ...jsonType };
    assert.match(assertError(await send(h.port, 'POST', '/api/echo', { headers, chunks: ['{"a":'] }), 400, 'INVALID_REQUEST'), /^Malformed JSON body: /);
    assert.match(assertError(await send(h.port, 'POST', '/api/echo', { headers, chunks: ['"just a string"'] }), 400, 'INVALID_REQUEST'), /^Malformed JSON body: /);
  });

  test('a body that is not JSON is 400 INVALID_REQUEST', async () => {
    const plain = await send(h.port, 'POST', '/api/echo', { headers: { ...auth, 'content-type': 'text/plain' }, chunks: ['hello'] });
    assert.match(assertError(plain, 400, 'INVALID_REQUEST'), /Content-Type must be application\/json/);
    const untyped = await send(h.port, 'POST', '/api/echo', { headers: { ...auth, 'content-length': '5' }, chunks: ['hello'] });
    assert.match(assertError(untyped, 400, 'INVALID_REQUEST'), /Content-Type must be application\/json/);
  });

  test('a body over the limit is 413 PAYLOAD_TOO_LARGE, announced or streamed', async () => {
    const big = JSON.stringify({ data: 'x'.repeat(2000) });
    const announced = await send(h.port, 'POST', '/api/echo', { headers: { ...auth, ...jsonType, 'content-length': String(big.length) }, chunks: [big] });
    assert.match(assertError(announced, 413, 'PAYLOAD_TOO_LARGE'), /1kb/);
    assert.equal(announced.headers.connection, 'close');

    const streamed = await send(h.port, 'POST', '/api/echo', {
      headers: { ...auth, ...jsonType },
      chunks: ['{"data":"', 'x'.repeat(600), 'x'.repeat(600), '"}'],
    });
    assert.match(assertError(streamed, 413, 'PAYLOAD_TOO_LARGE'), /1kb/);
  });

  test('an unexpected error is a bare 500 INTERNAL_ERROR, logged once with its cause', async () => {
    const reply = await send(h.port, 'GET', '/api/boom', { headers: auth });
    assert.equal(assertError(reply, 500, 'INTERNAL_ERROR'), 'Internal server error');
    assert.ok(!reply.text.includes('hunter2'), reply.text);
    assert.ok(!/\bat \S+ \(|\.js:\d+/.test(reply.text), reply.text);

    await h.log.waitFor((line) => line.path === '/api/boom' && line.status === 500);
    const logged = h.log.lines.filter((line) => line.err?.message === SECRET_MESSAGE);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, 50);
    assert.equal(logged[0]!.method, 'GET');
    assert.equal(logged[0]!.path, '/api/boom');
    assert.match(String(logged[0]!.err.stack), /api\.test/);
  });

  test('ApiErrors and http-errors answer with their registered code', async () => {
    assert.equal(assertError(await send(h.port, 'GET', '/api/sessions/main:api:x', { headers: auth }), 404, 'SESSION_NOT_FOUND'), 'No session main:api:x');
    assert.equal(assertError(await send(h.port, 'GET', '/api/throw-400', { headers: auth }), 400, 'INVALID_REQUEST'), 'name is required');
  });

  test('CORS is off by default', async () => {
    const reply = await send(h.port, 'GET', '/health', { headers: { origin: 'https://app.example' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['access-control-allow-origin'], undefined);
    const preflight = await send(h.port, 'OPTIONS', '/api/echo', { headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    assert.notEqual(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  });

  test('one request log line per request: method, path without query, status, ms, remote; no token', async () => {
    const secretQuery = 'token=query-secret-value';
    await send(h.port, 'GET', `/api/log-probe?${secretQuery}`, { headers: auth });
    const first = await h.log.waitFor((line) => line.component === 'http' && line.path === '/api/log-probe');
    // A second, different request: by the time its line is out, a duplicate of the first would be too.
    await send(h.port, 'GET', '/api/nope-for-log', { headers: auth });
    await h.log.waitFor((line) => line.path === '/api/nope-for-log');

    assert.equal(h.log.lines.filter((line) => line.path === '/api/log-probe').length, 1);
    assert.equal(h.log.lines.filter((line) => line.path === '/api/nope-for-log').length, 1);
    assert.equal(first.status, 200);
    assert.equal(first.level, 30);
    assert.equal(typeof first.ms, 'number');
    assert.equal(first.remote, '127.0.0.1');
    assert.equal(first.proc, 'worker');

    const everything = JSON.stringify(h.log.lines);
    assert.ok(!everything.includes(TOKEN), 'the token reached the log');
    assert.ok(!everything.includes('query-secret-value'), 'the query string reached the log');
    assert.ok(!everything.includes('"headers"'), 'headers reached the log');
  });
});

describe('failed-auth lockout', { timeout: 10_000 }, () => {
  let h: Harness;
  let now = 1_000_000;
  before(async () => {
    // Loopback clients are exempt by default; these tests come from 127.0.0.1.
    h = await start({ authLimits: { maxFailures: 3, windowMs: 60_000, lockoutMs: 120_000, now: () => now }, lockoutLoopback: true });
  });
  after(() => h.close());

  test('a missing token is no attempt; wrong ones are counted', async () => {
    for (let i = 0; i < 5; i++) assertError(await send(h.port, 'GET', '/api/echo'), 401, 'UNAUTHORIZED');
    assert.equal((await send(h.port, 'GET', '/api/echo', { headers: auth })).status, 200);
  });

  test('after the limit every /api request from the address is 429 with Retry-After, right token or not', async () => {
    const wrong = { authorization: 'Bearer wrong-token-wrong-token' };
    for (let i = 0; i < 3; i++) assertError(await send(h.port, 'GET', '/api/echo', { headers: wrong }), 401, 'UNAUTHORIZED');

    const locked = await send(h.port, 'GET', '/api/echo', { headers: auth });
    assertError(locked, 429, 'RATE_LIMITED');
    assert.equal(locked.headers['retry-after'], '120');
    assertError(await send(h.port, 'GET', '/api/echo', { headers: wrong }), 429, 'RATE_LIMITED');
    assertError(await json(h.port, 'POST', '/api/webhook/test', {}), 429, 'RATE_LIMITED');
    // /health is not an /api route.
    assert.equal((await send(h.port, 'GET', '/health')).status, 200);

    now += 60_000;
    assert.equal((await send(h.port, 'GET', '/api/echo', { headers: auth })).headers['retry-after'], '60');
    now += 60_001;
    assert.equal((await send(h.port, 'GET', '/api/echo', { headers: auth })).status, 200);
  });

  test('failures spread wider than the window do not lock out', async () => {
    const wrong = { authorization: 'Bearer wrong-token-wrong-token' };
    for (let i = 0; i < 4; i++) {
      now += 31_000;
      assertError(await send(h.port, 'GET', '/api/echo', { headers: wrong }), 401, 'UNAUTHORIZED');
    }
    assert.equal((await send(h.port, 'GET', '/api/echo', { headers: auth })).status, 200);
  });
});

describe('CORS with configured origins', { timeout: 10_000 }, () => {
  let h: Harness;
  const origin = 'https://app.example';
  before(async () => {
    h = await start({ cors: [origin] });
  });
  after(() => h.close());

  test('a listed origin gets its own value back, on errors too', async () => {
    const ok = await send(h.port, 'GET', '/api/echo', { headers: { ...auth, origin } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], origin);
    assert.match(String(ok.headers.vary), /Origin/);

    const denied = await send(h.port, 'GET', '/api/echo', { headers: { origin } });
    assertError(denied, 401, 'UNAUTHORIZED');
    assert.equal(denied.headers['access-control-allow-origin'], origin);
  });

  test('preflight is answered 204 before auth', async () => {
    const reply = await send(h.port, 'OPTIONS', '/api/echo', { headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(reply.status, 204);
    assert.equal(reply.headers['access-control-allow-origin'], origin);
    assert.equal(reply.headers['access-control-allow-methods'], 'GET,POST,DELETE,OPTIONS');
    assert.match(String(reply.headers['access-control-allow-headers']), /Authorization/);
    assert.match(String(reply.headers['access-control-allow-headers']), /Idempotency-Key/);
  });

  test('an unlisted origin gets no CORS headers', async () => {
    const reply = await send(h.port, 'GET', '/api/echo', { headers: { ...auth, origin: 'https://evil.example' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['access-control-allow-origin'], undefined);
    const preflight = await send(h.port, 'OPTIONS', '/api/echo', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.notEqual(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  });

  test('"*" allows any origin', async () => {
    const any = await start({ cors: ['*'] });
    try {
      const reply = await send(any.port, 'GET', '/health', { headers: { origin: 'https://whatever.example' } });
      assert.equal(reply.headers['access-control-allow-origin'], 'https://whatever.example');
    } finally {
      await any.close();
    }
  });
});
