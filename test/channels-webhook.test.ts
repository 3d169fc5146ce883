import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../worker/app.js';
import { createFeatures, type Features } from '../worker/features.js';
import { chatRule, completion, ECHO_RULE, startMockLlm, toolCallRule, type MockLlm } from './helpers/mock-llm.js';
import { waitUntil } from './helpers/gateway.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const TOKEN = 'webhook-test-token-0123456789';
const SECRET = 'shared-webhook-secret';

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
}

/** The operator's endpoint behind `replyUrl`: records every POST; answers `failWith` for the next `failures` ones. */
async function startReceiver() {
  const received: Received[] = [];
  const state = { failures: 0, failWith: 500 };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      const failing = state.failures > 0;
      if (failing) state.failures -= 1;
      res.statusCode = failing ? state.failWith : 204;
      res.end();
      server.emit('received');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/xopc`,
    received,
    state,
    async waitFor(count: number): Promise<Received[]> {
      while (received.length < count) await once(server, 'received');
      return received;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The worker's app and features with a logger whose lines the test can wait for. */
async function startApp(overrides: Record<string, unknown>) {
  const home = mkdtempSync(join(tmpdir(), 'xopc-webhook-test-'));
  const lines: any[] = [];
  const logged = new (await import('node:events')).EventEmitter();
  const logger = createLogger('worker', 'info', { write: (line: string) => { lines.push(JSON.parse(line)); logged.emit('line'); } });
  const config = configSchema.parse({ gateway: { auth: { token: TOKEN } }, ...overrides });
  const features: Features = await createFeatures({ config, logger, stateDir: home });
  const server = http.createServer(createApp({ config, logger, logFile: join(home, 'gateway.log'), routers: features.routers }).callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async call(method: string, path: string, body?: unknown) {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    },
    async waitForLog(msg: string): Promise<any> {
      for (;;) {
        const line = lines.find((entry) => entry.msg === msg);
        if (line) return line;
        await once(logged, 'line');
      }
    },
    async close() {
      await features.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

// The secret as Standard Webhooks libraries take it: the key's bytes in base64 after `whsec_`.
const sender = new Webhook(`whsec_${Buffer.from(SECRET).toString('base64')}`);

/** Standard Webhooks headers for `raw`, as a sender library makes them. */
function sign(raw: string, id: string = `msg_${randomUUID()}`): Record<string, string> {
  const at = new Date();
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sender.sign(id, at, raw) };
}

/** Checks a reply's Standard Webhooks signature; throws if it does not verify. */
function assertSigned(received: Received): void {
  sender.verify(received.raw, received.headers as Record<string, string>);
  assert.equal(received.headers['webhook-id'], received.headers['x-xopc-delivery']);
  assert.equal(received.headers['x-xopc-signature'], undefined, 'no legacy signature unless channels.webhook.legacySignature');
}

describe('generic webhook channel and webchat', () => {
  let mock: MockLlm;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let app: Awaited<ReturnType<typeof startApp>>;

  before(async () => {
    mock = await startMockLlm({
      streaming: { chunkSize: 2000, chunkIntervalMs: 1 },
      rules: [
        ECHO_RULE,
        toolCallRule("contains(body.messages[-1].content, 'page ops')", [{ id: 'call_1', name: 'send_message', arguments: { channel: 'webhook', chat_id: 'ops', text: 'disk is full' } }]),
        chatRule("body.messages[-1].role == 'tool'", 200, completion('{{jmes request body.messages[-1].content}}')),
      ],
    });
    receiver = await startReceiver();
    app = await startApp({
      agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      channels: { webhook: { enabled: true, secret: SECRET, replyUrl: receiver.url, replyTimeoutMs: 2000, replyRetry: { attempts: 3, minDelayMs: 20, maxDelayMs: 50 } } },
    });
  });
  after(async () => {
    await app?.close();
    await receiver?.close();
    await mock?.stop();
  });

  const inbound = (raw: string, signature?: Record<string, string>) => fetch(`${app.url}/api/webhook/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signature },
    body: raw,
  }).then(async (r) => ({ status: r.status, json: await r.json() as any }));

  test('a signed inbound message is accepted and the reply is POSTed to replyUrl, signed', async () => {
    const start = receiver.received.length;
    const raw = JSON.stringify({ event: 'message', data: { chat_id: 'room-1', content: 'hello hook', sender: 'ci' } });
    const res = await inbound(raw, sign(raw));
    assert.equal(res.status, 202);
    assert.match(res.json.message_id, /^msg_/);
    const [reply] = (await receiver.waitFor(start + 1)).slice(start);
    assertSigned(reply!);
    assert.equal(reply!.headers['x-xopc-event'], 'message');
    assert.ok(reply!.headers['x-xopc-delivery']);
    assert.equal(reply!.body.event, 'message');
    assert.deepEqual({ ...reply!.body.data, message_id: undefined }, { chat_id: 'room-1', content: 'hello hook', in_reply_to: res.json.message_id, message_id: undefined });
  });

  test('a reply to POST /api/message and /api/message/sync carries in_reply_to: the request\'s message_id', async () => {
    const start = receiver.received.length;
    const res = await app.call('POST', '/api/message', { channel: 'webhook', chat_id: 'C024BE91L', content: 'match me' });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const [reply] = (await receiver.waitFor(start + 1)).slice(start);
    assert.equal(reply!.body.data.in_reply_to, res.json.message_id);
    assert.notEqual(reply!.body.data.message_id, res.json.message_id);
    assert.equal(reply!.body.data.chat_id, 'C024BE91L');
    assert.equal(reply!.body.data.content, 'match me');

    const sync = await app.call('POST', '/api/message/sync', { channel: 'webhook', chat_id: 'a.b+c@example.com', content: 'match me too' });
    assert.equal(sync.status, 200, JSON.stringify(sync.json));
    const [syncReply] = (await receiver.waitFor(start + 2)).slice(start + 1);
    assert.equal(syncReply!.body.data.in_reply_to, sync.json.message_id);
    assert.equal(syncReply!.body.data.chat_id, 'a.b+c@example.com');
    assert.equal((await app.call('GET', `/api/sessions/${encodeURIComponent('main:webhook:a.b+c@example.com')}`)).json.session.messageCount, 2);
  });

  test('unsigned, wrongly signed or tampered inbound calls are 401 and change nothing', async () => {
    const raw = JSON.stringify({ event: 'message', data: { chat_id: 'intruder', content: 'let me in' } });
    const good = sign(raw);
    const wrongKey = new Webhook(Buffer.from('another-secret'), { format: 'raw' }).sign(good['webhook-id']!, new Date(), raw);
    const signatures = [
      undefined,
      { ...good, 'webhook-signature': wrongKey },
      sign(raw.replace('let me in', 'let me on'), good['webhook-id']),
      { ...good, 'webhook-signature': good['webhook-signature']!.slice(0, -2) },
      { ...good, 'webhook-id': 'msg_another' },
      { 'webhook-id': good['webhook-id']!, 'webhook-signature': good['webhook-signature']! },
    ];
    for (const signature of signatures) {
      const res = await inbound(raw, signature);
      assert.equal(res.status, 401, String(signature));
      assert.equal(res.json.error.code, 'UNAUTHORIZED');
    }
    assert.equal((await app.call('GET', '/api/sessions/main:webhook:intruder')).status, 404);
  });

  test('a signed body of the wrong shape is 400; webchat and unknown channels take no webhooks', async () => {
    const raw = JSON.stringify({ event: 'message', data: { chat_id: 'Bad Id', content: 'x' } });
    const bad = await inbound(raw, sign(raw));
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /chat_id/);
    for (const channel of ['webchat', 'nope']) {
      const res = await fetch(`${app.url}/api/webhook/${channel}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as any).error.code, 'CHANNEL_NOT_FOUND');
    }
  });

  test('a failing receiver is retried with the same delivery id, then succeeds', async () => {
    const start = receiver.received.length;
    receiver.state.failures = 2;
    const res = await app.call('POST', '/api/message', { channel: 'webhook', chat_id: 'room-2', content: 'retry me' });
    assert.equal(res.status, 202);
    const tries = (await receiver.waitFor(start + 3)).slice(start);
    assert.equal(new Set(tries.map((t) => t.headers['x-xopc-delivery'])).size, 1);
    assert.deepEqual(tries.map((t) => t.body.data.content), ['retry me', 'retry me', 'retry me']);
  });

  test('a receiver that keeps failing gets the bounded retries, then the failure is logged', async () => {
    const start = receiver.received.length;
    receiver.state.failures = 100;
    const raw = JSON.stringify({ event: 'message', data: { chat_id: 'room-3', content: 'nobody listens' } });
    const res = await inbound(raw, sign(raw));
    const line = await app.waitForLog('webhook reply could not be delivered after all retries; it stays in the session');
    assert.equal(line.messageId, res.json.message_id);
    assert.equal(receiver.received.length - start, 3);

    const sync = await app.call('POST', '/api/message/sync', { channel: 'webhook', chat_id: 'room-3', content: 'sync fails' });
    assert.equal(sync.status, 502);
    assert.equal(sync.json.error.code, 'CHANNEL_ERROR');
    assert.match(sync.json.error.message, /receiver answered 500/);
    receiver.state.failures = 0;
  });

  test('webchat: the reply stays in the session and goes nowhere else', async () => {
    const start = receiver.received.length;
    const res = await app.call('POST', '/api/message/sync', { channel: 'webchat', chat_id: 'browser-1', content: 'hi webchat' });
    assert.equal(res.status, 200);
    assert.equal(res.json.reply, 'hi webchat');
    const session = await app.call('GET', '/api/sessions/main:webchat:browser-1');
    assert.deepEqual(session.json.session.messages.map((m: any) => m.content), ['hi webchat', 'hi webchat']);
    assert.equal(receiver.received.length, start);
  });

  test('webchat: the stored reply names the message it answers (in_reply_to)', async () => {
    const sync = await app.call('POST', '/api/message/sync', { channel: 'webchat', chat_id: 'browser-3', content: 'first' });
    const accepted = await app.call('POST', '/api/message', { channel: 'webchat', chat_id: 'browser-3', content: 'second' });
    assert.equal(accepted.status, 202);
    const messages = await waitUntil(async () => {
      const session = await app.call('GET', '/api/sessions/main:webchat:browser-3');
      return session.json.session?.messages.length === 4 ? session.json.session.messages : null;
    }, 10_000, 'the async reply in the session');
    assert.deepEqual(messages.map((m: any) => [m.role, m.in_reply_to]), [
      ['user', undefined],
      ['assistant', sync.json.message_id],
      ['user', undefined],
      ['assistant', accepted.json.message_id],
    ]);
  });

  test('the agent can notify a chat with the send_message tool', async () => {
    const start = receiver.received.length;
    const res = await app.call('POST', '/api/message/sync', { channel: 'webchat', chat_id: 'browser-2', content: 'please page ops' });
    assert.equal(res.json.reply, 'Message sent to webhook chat ops.');
    const [sent] = receiver.received.slice(start);
    assert.deepEqual({ chat_id: sent!.body.data.chat_id, content: sent!.body.data.content }, { chat_id: 'ops', content: 'disk is full' });
    assertSigned(sent!);
  });
});
