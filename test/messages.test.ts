import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../src/logger.js';
import { createIdempotencyStore } from '../worker/messages/idempotency-store.js';
import { sweepExpired } from '../worker/storage/sweep-expired.js';
import { waitUntil } from './helpers/gateway.js';
import { startAgentApp, TOKEN, type AgentApp } from './helpers/agent-app.js';
import { chatRule, ECHO_RULE, errorContent, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const FAIL_RULE = chatRule("contains(body.messages[-1].content, 'FAIL')", 500, errorContent('the model is down'));
const SLOW = { chunkSize: 1, chunkIntervalMs: 20 };

describe('POST /api/message and /api/message/sync', () => {
  let mock: MockLlm;
  let app: AgentApp;

  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
    app = await startAgentApp({
      agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0, maxMessageChars: 100 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    });
  });
  after(async () => {
    await app?.close();
    await mock?.stop();
  });

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${app.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() as any };
  };
  const messagesOf = async (key: string) => (await app.call('GET', `/api/sessions/${key}`)).json.session.messages.map((m: any) => m.content);

  test('bad requests are INVALID_REQUEST with a message naming the field', async () => {
    const cases: Array<[unknown, RegExp, Record<string, string>?]> = [
      [{ chat_id: '1', content: 'x' }, /channel/],
      [{ channel: 'webchat', content: 'x' }, /chat_id/],
      [{ channel: 'webchat', chat_id: 'Has Spaces', content: 'x' }, /chat_id/],
      [{ channel: 'webchat', chat_id: '1', content: '  ' }, /content/],
      [{ channel: 'webchat', chat_id: '1', content: 'y'.repeat(101) }, /maxMessageChars/],
      [{ channel: 'webchat', chat_id: '1', content: 'x' }, /Idempotency-Key/, { 'idempotency-key': 'x'.repeat(256) }],
    ];
    for (const [body, pattern, headers] of cases) {
      for (const path of ['/api/message', '/api/message/sync']) {
        const res = await post(path, body, headers);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.json.error.code, 'INVALID_REQUEST');
        assert.match(res.json.error.message, pattern);
      }
    }
  });

  test('the bearer token is required', async () => {
    const res = await fetch(`${app.url}/api/message`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 401);
  });

  test('async to webchat: 202 with a message_id, the reply lands in the session', async () => {
    const res = await post('/api/message', { channel: 'webchat', chat_id: 'w1', content: 'async webchat' });
    assert.equal(res.status, 202);
    assert.match(res.json.message_id, /^msg_/);
    // Same session, so this sync turn runs after the async one.
    await post('/api/message/sync', { channel: 'webchat', chat_id: 'w1', content: 'after' });
    assert.deepEqual(await messagesOf('main:webchat:w1'), ['async webchat', 'async webchat', 'after', 'after']);
  });

  test('a sync retry with the same Idempotency-Key returns the same reply and runs one turn', async () => {
    await mock.setConfig({ streaming: SLOW, rules: [ECHO_RULE] });
    try {
      const headers = { 'idempotency-key': 'sync-key-1' };
      // The retry arrives while the first is still running: it joins it.
      const [first, retry] = await Promise.all([
        post('/api/message/sync', { channel: 'webchat', chat_id: 'w2', content: 'once please' }, headers),
        new Promise((resolve) => setTimeout(resolve, 30)).then(() => post('/api/message/sync', { channel: 'webchat', chat_id: 'w2', content: 'once please' }, headers)),
      ]);
      assert.equal(first.status, 200);
      assert.deepEqual(retry.json, first.json);
      const late = await post('/api/message/sync', { channel: 'webchat', chat_id: 'w2', content: 'once please' }, headers);
      assert.deepEqual(late.json, first.json);
      assert.deepEqual(await messagesOf('main:webchat:w2'), ['once please', 'once please']);
    } finally {
      await mock.setConfig({ rules: [ECHO_RULE] });
    }
  });

  test('a sync request that failed in the agent leaves its key free for a retry', async () => {
    await mock.setConfig({ rules: [ECHO_RULE, FAIL_RULE] });
    const headers = { 'idempotency-key': 'sync-key-2' };
    const failed = await post('/api/message/sync', { channel: 'webchat', chat_id: 'w3', content: 'FAIL then work' }, headers);
    assert.equal(failed.status, 502);
    assert.equal(failed.json.error.code, 'AGENT_ERROR');
    await mock.setConfig({ rules: [ECHO_RULE] });
    const retried = await post('/api/message/sync', { channel: 'webchat', chat_id: 'w3', content: 'FAIL then work' }, headers);
    assert.equal(retried.status, 200);
    assert.equal(retried.json.reply, 'FAIL then work');
  });

  test('async and sync keys do not mix: the same key for the other endpoint is refused', async () => {
    const headers = { 'idempotency-key': 'mixed-key' };
    assert.equal((await post('/api/message', { channel: 'webchat', chat_id: 'w4', content: 'a' }, headers)).status, 202);
    const res = await post('/api/message/sync', { channel: 'webchat', chat_id: 'w4', content: 'a' }, headers);
    assert.equal(res.status, 400);
    assert.match(res.json.error.message, /Idempotency-Key/);
  });
});

describe('POST /api/message without a provider', () => {
  test('async answers AGENT_ERROR at once instead of accepting what cannot be answered', async () => {
    const app = await startAgentApp({ agents: { defaults: { model: 'openai/gpt-4o-mini' } } });
    try {
      const res = await app.call('POST', '/api/message', { channel: 'webchat', chat_id: 'x', content: 'hello' });
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'AGENT_ERROR');
    } finally {
      await app.close();
    }
  });
});

describe('idempotency store', () => {
  const logger = createLogger('worker', 'silent', { write() {} });

  test('two stores on one dir (two workers mid-restart): exactly one claims a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xopc-idem-'));
    try {
      const stores = [0, 1].map(() => createIdempotencyStore({ dir, ttlMs: 60_000, logger }));
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => stores[i % 2]!.claim('k', { fingerprint: 'f', messageId: `msg_${i}` })));
      const winners = results.filter((result) => result.claimed);
      assert.equal(winners.length, 1);
      const ids = new Set(results.flatMap((result) => (result.claimed ? [] : [result.record.messageId])));
      assert.equal(ids.size, 1, 'every loser sees the same record');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a key is forgotten after its TTL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xopc-idem-'));
    try {
      let now = 1_000_000;
      const store = createIdempotencyStore({ dir, ttlMs: 1000, logger, now: () => now });
      assert.equal((await store.claim('k', { fingerprint: 'f', messageId: 'msg_a' })).claimed, true);
      assert.equal((await store.claim('k', { fingerprint: 'f', messageId: 'msg_b' })).claimed, false);
      now += 1001;
      assert.equal((await store.claim('k', { fingerprint: 'f', messageId: 'msg_c' })).claimed, true);
      assert.equal((await store.read('k'))?.messageId, 'msg_c');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('files of expired keys are swept from the store\'s dir when claims come in, fresh ones kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xopc-idem-'));
    try {
      const old = join(dir, 'expired-key.json');
      writeFileSync(old, '{}');
      const twoHoursAgo = (Date.now() - 2 * 60 * 60 * 1000) / 1000;
      utimesSync(old, twoHoursAgo, twoHoursAgo);
      const store = createIdempotencyStore({ dir, ttlMs: 60 * 60 * 1000, logger });
      assert.equal((await store.claim('k', { fingerprint: 'f', messageId: 'msg_a' })).claimed, true);
      await waitUntil(() => !existsSync(old), 5000, 'the expired file to be swept');
      assert.equal((await store.read('k'))?.messageId, 'msg_a', 'the fresh key is kept');
      // The sweep itself: only files older than the TTL go.
      const fresh = join(dir, 'fresh.json');
      const stale = join(dir, 'stale.json');
      writeFileSync(fresh, '{}');
      writeFileSync(stale, '{}');
      utimesSync(stale, twoHoursAgo, twoHoursAgo);
      assert.equal(await sweepExpired(dir, 60 * 60 * 1000), 1);
      assert.deepEqual([existsSync(fresh), existsSync(stale)], [true, false]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
