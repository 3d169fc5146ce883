import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../worker/app.js';
import { createReplayGuard, DELIVERY_TTL_MS } from '../worker/channels/webhook/replay-guard.js';
import { createFeatures } from '../worker/features.js';
import { waitUntil } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const TOKEN = 'webhook-replay-token-0123456789';
const SECRET = `whsec_${Buffer.from('replay-test-key-bytes').toString('base64')}`;
const sender = new Webhook(SECRET);

interface Reply {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: { data: { chat_id: string; content: string; in_reply_to?: string } };
}

/** The operator's endpoint behind replyUrl. */
async function startReceiver() {
  const received: Reply[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.statusCode = 204;
      res.end();
      server.emit('received');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    /** Resolves with the reply to `messageId` once it arrives. */
    async replyTo(messageId: string): Promise<Reply> {
      for (;;) {
        const reply = received.find((r) => r.body.data.in_reply_to === messageId);
        if (reply) return reply;
        await once(server, 'received');
      }
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** One worker's app and features on `home`; a second call on the same home is the next worker. */
async function startWorker(home: string, channel: Record<string, unknown>, mock: MockLlm) {
  const logger = createLogger('worker', 'silent', { write() {} });
  const config = configSchema.parse({
    gateway: { auth: { token: TOKEN } },
    agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    channels: { webhook: { enabled: true, secret: SECRET, replyRetry: { attempts: 2, minDelayMs: 10, maxDelayMs: 20 }, ...channel } },
  });
  const features = await createFeatures({ config, logger, stateDir: home });
  const server = http.createServer(createApp({ config, logger, logFile: join(home, 'gateway.log'), routers: features.routers }).callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    async post(raw: string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
      const res = await fetch(`${url}/api/webhook/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
      return { status: res.status, json: await res.json() };
    },
    async sessionContents(chat: string): Promise<string[]> {
      const res = await fetch(`${url}/api/sessions/main:webhook:${chat}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const json = (await res.json()) as { session: { messages: Array<{ content: string }> } };
      return json.session.messages.map((m) => m.content);
    },
    async close() {
      await features.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Standard Webhooks headers as a sender makes them, at `at` (a retry re-signs the same id with a new time). */
function sign(raw: string, id: string, at = new Date()): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sender.sign(id, at, raw) };
}

const body = (chat: string, content: string) => JSON.stringify({ event: 'message', data: { chat_id: chat, content } });

describe('webhook deliveries are run once per webhook-id', { timeout: 60_000 }, () => {
  let mock: MockLlm;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let home: string;
  let worker: Awaited<ReturnType<typeof startWorker>>;

  before(async () => {
    mock = await startMockLlm({ rules: [ECHO_RULE] });
    receiver = await startReceiver();
    home = mkdtempSync(join(tmpdir(), 'xopc-webhook-replay-'));
    worker = await startWorker(home, { replyUrl: receiver.url }, mock);
  });
  after(async () => {
    await worker?.close();
    await receiver?.close();
    await mock?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  /** Sends a fresh message to `chat` and waits for its reply: turns queued before it in that chat have run by then. */
  async function settle(chat: string): Promise<void> {
    const raw = body(chat, 'marker');
    const res = await worker.post(raw, sign(raw, `msg_${randomUUID()}`));
    assert.equal(res.status, 202);
    await receiver.replyTo(res.json.message_id);
  }

  test('the same signed delivery sent three times is one turn; each repeat gets the first answer', async () => {
    const raw = body('replay-1', 'only once');
    const headers = sign(raw, 'msg_replay_1');
    const answers = [await worker.post(raw, headers), await worker.post(raw, headers), await worker.post(raw, headers)];
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202]);
    assert.equal(new Set(answers.map((a) => a.json.message_id)).size, 1);
    await settle('replay-1');
    assert.deepEqual(await worker.sessionContents('replay-1'), ['only once', 'only once', 'marker', 'marker']);
    assert.equal(receiver.received.filter((r) => r.body.data.content === 'only once').length, 1, 'one reply delivered');
  });

  test('repeats sent at the same moment are one turn too', async () => {
    const raw = body('replay-2', 'all at once');
    const headers = sign(raw, 'msg_replay_2');
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => worker.post(raw, headers)));
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202, 202, 202]);
    assert.equal(new Set(answers.map((a) => a.json.message_id)).size, 1);
    await settle('replay-2');
    assert.deepEqual(await worker.sessionContents('replay-2'), ['all at once', 'all at once', 'marker', 'marker']);
  });

  test('a delivery id is remembered by the next worker: a sender retry (re-signed later) is not run again', async () => {
    const raw = body('replay-3', 'before the restart');
    const first = await worker.post(raw, sign(raw, 'msg_replay_3'));
    assert.equal(first.status, 202);
    await receiver.replyTo(first.json.message_id);
    await worker.close();
    worker = await startWorker(home, { replyUrl: receiver.url }, mock);
    const retry = await worker.post(raw, sign(raw, 'msg_replay_3', new Date(Date.now() + 2000)));
    assert.equal(retry.status, 202);
    assert.equal(retry.json.message_id, first.json.message_id);
    await settle('replay-3');
    assert.deepEqual(await worker.sessionContents('replay-3'), ['before the restart', 'before the restart', 'marker', 'marker']);
  });

  test('a timestamp more than 5 minutes off is refused, even with a valid signature', async () => {
    const raw = body('replay-4', 'from the past');
    for (const offsetMs of [-6 * 60_000, 6 * 60_000]) {
      const res = await worker.post(raw, sign(raw, `msg_${randomUUID()}`, new Date(Date.now() + offsetMs)));
      assert.equal(res.status, 401, String(offsetMs));
      assert.match(res.json.error.message, /webhook-timestamp is not within 5 minutes/);
    }
  });

  test('replies are signed the Standard Webhooks way, one webhook-id across retries', async () => {
    const raw = body('replay-5', 'sign your reply');
    const res = await worker.post(raw, sign(raw, `msg_${randomUUID()}`));
    const reply = await receiver.replyTo(res.json.message_id);
    sender.verify(reply.raw, reply.headers as Record<string, string>);
    assert.equal(reply.headers['webhook-id'], reply.headers['x-xopc-delivery']);
    assert.equal(reply.headers['x-xopc-signature'], undefined);
  });
});

describe('the legacy X-Xopc-Signature', { timeout: 30_000 }, () => {
  let mock: MockLlm;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const homes: string[] = [];
  before(async () => {
    mock = await startMockLlm({ rules: [ECHO_RULE] });
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver?.close();
    await mock?.stop();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  });
  const legacy = (raw: string) => ({ 'x-xopc-signature': 'sha256=' + createHmac('sha256', SECRET).update(raw).digest('hex') });

  test('is refused unless channels.webhook.legacySignature is true', async () => {
    homes.push(mkdtempSync(join(tmpdir(), 'xopc-webhook-legacy-')));
    const worker = await startWorker(homes.at(-1)!, { replyUrl: receiver.url }, mock);
    try {
      const raw = body('legacy-1', 'old sender');
      const res = await worker.post(raw, legacy(raw));
      assert.equal(res.status, 401);
      assert.match(res.json.error.message, /legacy scheme, off unless channels\.webhook\.legacySignature is true/);
    } finally {
      await worker.close();
    }
  });

  test('is accepted when allowed, and replies then carry it beside the Standard Webhooks headers', async () => {
    homes.push(mkdtempSync(join(tmpdir(), 'xopc-webhook-legacy-')));
    const worker = await startWorker(homes.at(-1)!, { replyUrl: receiver.url, legacySignature: true }, mock);
    try {
      const raw = body('legacy-2', 'old sender');
      const res = await worker.post(raw, legacy(raw));
      assert.equal(res.status, 202);
      const reply = await receiver.replyTo(res.json.message_id);
      assert.equal(reply.headers['x-xopc-signature'], legacy(reply.raw)['x-xopc-signature']);
      sender.verify(reply.raw, reply.headers as Record<string, string>);
    } finally {
      await worker.close();
    }
  });
});

test('delivery ids older than their TTL are swept from the guard\'s dir as deliveries come in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-webhook-sweep-'));
  try {
    const old = join(dir, 'expired-delivery.json');
    writeFileSync(old, '{}');
    const past = (Date.now() - DELIVERY_TTL_MS - 60_000) / 1000;
    utimesSync(old, past, past);
    const guard = createReplayGuard({ dir, logger: createLogger('worker', 'silent', { write() {} }) });
    let runs = 0;
    const handle = async () => ({ status: 202, body: { run: ++runs } });
    assert.deepEqual(await guard.once('fresh-id', handle), { status: 202, body: { run: 1 } });
    await waitUntil(() => !existsSync(old), 5000, 'the expired delivery id to be swept');
    assert.deepEqual(await guard.once('fresh-id', handle), { status: 202, body: { run: 1 } }, 'the fresh id is kept');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
