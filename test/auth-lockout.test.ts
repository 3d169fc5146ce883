import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import Router from '@koa/router';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../worker/app.js';
import { apiError } from '../worker/http/errors.js';
import { createProxyTrust, resolveClient } from '../worker/http/client-address.js';
import { removeHome, runCli, startGateway } from './helpers/gateway.js';

const TOKEN = 'lockout-test-token-0123456789';
const WRONG = 'wrong-token-wrong-token-0000';
const MAX_FAILURES = 3;

/** The worker's app with a route behind auth and a webhook route that checks its own secret. */
async function start(gateway: Record<string, unknown> = {}) {
  const config = configSchema.parse({ gateway: { ...gateway, auth: { token: TOKEN, ...(gateway.auth as object) } } });
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('worker', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  const router = new Router();
  router.get('/api/echo', (ctx) => (ctx.body = { status: 'ok' }));
  router.post('/api/webhook/test', (ctx) => {
    if (ctx.get('x-test-signature') !== 'good') throw apiError('UNAUTHORIZED', 'bad signature');
    ctx.body = { status: 'ok' };
  });
  const app = createApp({ config, logger, logFile: '/nonexistent/gateway.log', routers: [router], authLimits: { maxFailures: MAX_FAILURES } });
  const server = http.createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    lines,
    async get(token: string, headers: Record<string, string> = {}): Promise<number> {
      const res = await fetch(`${base}/api/echo`, { headers: { authorization: `Bearer ${token}`, ...headers } });
      await res.body?.cancel();
      return res.status;
    },
    async webhook(signature: string): Promise<number> {
      const res = await fetch(`${base}/api/webhook/test`, { method: 'POST', headers: { 'x-test-signature': signature, 'content-type': 'application/json' }, body: '{}' });
      await res.body?.cancel();
      return res.status;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

test('processes on this machine are exempt by default: wrong tokens never lock the owner out', { timeout: 30_000 }, async () => {
  const app = await start();
  try {
    for (let i = 0; i < MAX_FAILURES * 4; i++) assert.equal(await app.get(WRONG), 401);
    assert.equal(await app.get(TOKEN), 200);
    assert.equal(app.lines.filter((line) => line.level === 40).length, 0, 'no lockout warning');
  } finally {
    await app.close();
  }
});

test('with gateway.auth.lockoutLoopback, loopback is locked out too, and the lockout is a warn line naming the address', { timeout: 30_000 }, async () => {
  const app = await start({ auth: { lockoutLoopback: true } });
  try {
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal(await app.get(WRONG), 401);
    assert.equal(await app.get(TOKEN), 429);
    const warnings = app.lines.filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.address, '127.0.0.1');
    assert.match(String(warnings[0]!.msg), /127\.0\.0\.1 is locked out of \/api for 300 s after repeated wrong tokens/);
  } finally {
    await app.close();
  }
});

test('a proxy on this machine that is not trusted does not make its outside clients exempt', { timeout: 30_000 }, async () => {
  const app = await start();
  try {
    const relayed = { 'x-forwarded-for': '203.0.113.9' };
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal(await app.get(WRONG, relayed), 401);
    assert.equal(await app.get(TOKEN, relayed), 429, 'relayed requests are locked out');
    assert.equal(await app.get(TOKEN), 200, 'the owner talking to the gateway directly is not');
  } finally {
    await app.close();
  }
});

test('behind a trusted proxy, clients are told apart by X-Forwarded-For, and what they write into it is ignored', { timeout: 30_000 }, async () => {
  const app = await start({ trustedProxies: ['127.0.0.0/8'] });
  try {
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal(await app.get(WRONG, { 'x-forwarded-for': '203.0.113.5' }), 401);
    assert.equal(await app.get(TOKEN, { 'x-forwarded-for': '203.0.113.5' }), 429, 'the guessing client is locked out');
    assert.equal(await app.get(TOKEN, { 'x-forwarded-for': '203.0.113.6' }), 200, 'another client behind the same proxy is not');
    // The client wrote a fresh address in front; the proxy appended the real one.
    assert.equal(await app.get(TOKEN, { 'x-forwarded-for': '198.51.100.77, 203.0.113.5' }), 429);
    assert.equal(await app.get(TOKEN), 200, 'the proxy host itself, without the header');
    const logged = app.lines.filter((line) => line.msg === 'Request completed').map((line) => line.remote);
    assert.ok(logged.includes('203.0.113.6'), 'the request log shows the client, not the proxy');
  } finally {
    await app.close();
  }
});

test('resolveClient walks X-Forwarded-For from the right, through trusted hops only', () => {
  const trusted = createProxyTrust(['10.0.0.0/8', '2001:db8::/32', '192.0.2.1']);
  assert.equal(resolveClient('203.0.113.1', '1.2.3.4', trusted), '203.0.113.1', 'an untrusted peer: the header is ignored');
  assert.equal(resolveClient('10.0.0.2', '1.2.3.4', trusted), '1.2.3.4');
  assert.equal(resolveClient('::ffff:10.0.0.2', '6.6.6.6, 1.2.3.4, 10.9.9.9, 192.0.2.1', trusted), '1.2.3.4');
  assert.equal(resolveClient('2001:db8::5', '2001:db8::7, ::ffff:1.2.3.4', trusted), '1.2.3.4');
  assert.equal(resolveClient('10.0.0.2', '10.0.0.3', trusted), '10.0.0.3', 'every hop trusted: the first');
  assert.equal(resolveClient('10.0.0.2', 'garbage', trusted), '10.0.0.2');
  assert.equal(resolveClient('10.0.0.2', undefined, trusted), '10.0.0.2');
});

test('bad webhook signatures count toward the lockout', { timeout: 30_000 }, async () => {
  const app = await start({ auth: { lockoutLoopback: true } });
  try {
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal(await app.webhook('bad'), 401);
    assert.equal(await app.webhook('good'), 429);
    assert.equal(await app.get(TOKEN), 429);
    assert.match(String(app.lines.find((line) => line.level === 40)?.msg), /after repeated bad webhook signatures/);
  } finally {
    await app.close();
  }
});

test('the CLI says what a lockout is and what to do', { timeout: 60_000 }, async () => {
  const gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN, lockoutLoopback: true } } } });
  try {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(gateway.url('/api/cron'), { headers: { authorization: `Bearer ${WRONG}` } });
      await res.body?.cancel();
    }
    const result = await runCli(gateway.home, ['cron', 'list']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /locked this address out for \d+ s after repeated failed authentication/);
    assert.match(result.stderr, /even with the right token/);
    assert.match(result.stderr, /xopc gateway token/);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});
