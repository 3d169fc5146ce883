import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config.js';
import { removeHome, startGateway, tempHome, waitUntil } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

// Back-pressure on async POST /api/message: the gateway holds at most
// gateway.maxPendingMessages messages accepted but not yet answered; beyond that it
// answers 503 BUSY and accepts nothing. The test sets a small limit; the default is 64.
const MAX_BACKLOG = 12;

test('gateway.maxPendingMessages defaults to 64', () => {
  assert.equal(parseConfig({}).gateway.maxPendingMessages, 64);
});

test(`POST /api/message answers BUSY beyond ${MAX_BACKLOG} waiting messages; what it rejects leaves no trace, what it accepts is answered`, { timeout: 90_000 }, async () => {
  // Every answer streams 160 characters, one every 50 ms: no turn ends within 8 s of its
  // start, so the backlog filled below stays full while the test looks at it.
  const mock = await startMockLlm({ streaming: { chunkSize: 1, chunkIntervalMs: 50 }, rules: [chatRule('@', 200, completion(`echo {{jmes request body.messages[-1].content}} ${'z'.repeat(140)}`))] });
  const home = tempHome('xopc-backlog-');
  const gateway = await startGateway({
    home,
    config: {
      gateway: { maxPendingMessages: MAX_BACKLOG },
      agents: { defaults: { model: 'mock/backlog', maxRetries: 0, timeoutMs: 30_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    },
  });
  const headers = { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' };
  const post = (chatId: string, content: string, extra: Record<string, string> = {}) =>
    fetch(gateway.url('/api/message'), { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify({ channel: 'webchat', chat_id: chatId, content }) });
  const sessionOf = async (chatId: string) => {
    const res = await fetch(gateway.url(`/api/sessions/main:webchat:${chatId}`), { headers });
    return { status: res.status, messages: res.status === 200 ? ((await res.json()) as { session: { messages: Array<{ content: string }> } }).session.messages.map((m) => m.content) : [] };
  };
  const pendingDir = join(home, 'messages', 'pending');
  const pendingContents = () => readdirSync(pendingDir).filter((n) => n.endsWith('.json')).map((n) => (JSON.parse(readFileSync(join(pendingDir, n), 'utf8')) as { request: { content: string } }).request.content);
  try {
    // Fill the backlog, one session each so that all turns run at once.
    const fill = Array.from({ length: MAX_BACKLOG }, (_, i) => `fill ${i}`);
    const accepted = await Promise.all(fill.map(async (content, i) => {
      const res = await post(`bp-${i}`, content, i === 0 ? { 'idempotency-key': 'bp-first' } : {});
      assert.equal(res.status, 202, content);
      return ((await res.json()) as { message_id: string }).message_id;
    }));

    const rejected = await post('bp-rejected', 'one too many');
    assert.equal(rejected.status, 503);
    assert.equal(rejected.headers.get('retry-after'), '5');
    const body = (await rejected.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'BUSY');
    assert.match(body.error.message, /nothing was accepted/);
    // A retry of a message already accepted is not new work: it still gets its message_id.
    const retry = await post('bp-0', 'fill 0', { 'idempotency-key': 'bp-first' });
    assert.equal(retry.status, 202);
    assert.equal(((await retry.json()) as { message_id: string }).message_id, accepted[0]);
    // A rejected message with a key leaves the key free: the same request can be retried.
    assert.equal((await post('bp-keyed', 'keyed', { 'idempotency-key': 'bp-keyed' })).status, 503);
    assert.deepEqual(pendingContents().sort(), [...fill].sort(), 'the rejected ones are not in the pending journal');

    // Every accepted message is answered; the rejected ones never reach a session.
    await waitUntil(() => readdirSync(pendingDir).length === 0, 60_000, 'the accepted messages to be answered');
    for (const [i, content] of fill.entries()) {
      const { messages } = await sessionOf(`bp-${i}`);
      assert.equal(messages.length, 2, `${content}: one turn`);
      assert.equal(messages[0], content);
      assert.ok(messages[1]!.startsWith(`echo ${content} `), `${content}: its reply`);
    }
    assert.equal((await sessionOf('bp-rejected')).status, 404, 'no session for the rejected message');
    assert.equal((await sessionOf('bp-keyed')).status, 404, 'no session for the rejected keyed message');

    // With the backlog worked off, messages are accepted again (the key rejected before too).
    assert.equal((await post('bp-keyed', 'keyed', { 'idempotency-key': 'bp-keyed' })).status, 202);
    await waitUntil(async () => (await sessionOf('bp-keyed')).messages.length === 2, 30_000, 'the message sent after the backlog drained');
  } finally {
    await gateway.stop();
    removeHome(home);
    await mock.stop();
  }
});

// What dead workers left on disk counts toward the gateway's bound, and it is answered
// several chats at once (bounded), each chat in the order its messages were accepted.
test('messages left by dead workers count toward gateway.maxPendingMessages and are replayed in parallel, in order per chat', { timeout: 120_000 }, async () => {
  const CHATS = 4;
  const PER_CHAT = 3;
  // Each answer streams for ~3 s: the backlog is still full when the test posts.
  const mock = await startMockLlm({ streaming: { chunkSize: 1, chunkIntervalMs: 50 }, rules: [chatRule('@', 200, completion(`echo {{jmes request body.messages[-1].content}} ${'z'.repeat(50)}`))] });
  const home = tempHome('xopc-backlog-replay-');
  const dead = spawn(process.execPath, ['-e', '']);
  await once(dead, 'exit');
  const pendingDir = join(home, 'messages', 'pending');
  mkdirSync(pendingDir, { recursive: true });
  const base = Date.now() - 60_000;
  for (let i = 0; i < PER_CHAT; i++) {
    for (let c = 0; c < CHATS; c++) {
      const messageId = `msg_${(c * 16 + i).toString(16).padStart(24, '0')}`;
      writeFileSync(join(pendingDir, `${messageId}.json`), JSON.stringify({
        messageId, request: { channel: 'webchat', chatId: `left-${c}`, content: `left ${c}-${i}` },
        acceptedAt: new Date(base + i * 1000 + c).toISOString(), owner: { pid: dead.pid, startTime: null },
      }));
    }
  }
  const gateway = await startGateway({
    home,
    config: {
      gateway: { maxPendingMessages: CHATS * PER_CHAT },
      agents: { defaults: { model: 'mock/backlog', maxRetries: 0, timeoutMs: 30_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    },
  });
  const headers = { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' };
  try {
    const res = await fetch(gateway.url('/api/message'), { method: 'POST', headers, body: JSON.stringify({ channel: 'webchat', chat_id: 'new', content: 'one more' }) });
    assert.equal(res.status, 503, 'the orphans on disk fill the gateway-wide bound');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'BUSY');

    await waitUntil(() => readdirSync(pendingDir).length === 0, 90_000, 'the messages left behind to be answered');
    const spans: Array<[number, number]> = [];
    for (let c = 0; c < CHATS; c++) {
      const session = await fetch(gateway.url(`/api/sessions/main:webchat:left-${c}`), { headers });
      const messages = ((await session.json()) as { session: { messages: Array<{ role: string; content: string; timestamp: string }> } }).session.messages;
      assert.deepEqual(messages.filter((m) => m.role === 'user').map((m) => m.content), Array.from({ length: PER_CHAT }, (_, i) => `left ${c}-${i}`), `left-${c}: answered once each, in the order accepted`);
      for (let i = 0; i < messages.length; i += 2) spans.push([Date.parse(messages[i]!.timestamp), Date.parse(messages[i + 1]!.timestamp)]);
    }
    // Turns of different chats ran at the same time (a turn's span: its start to its reply).
    const overlapping = Math.max(...spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length));
    assert.ok(overlapping >= 2, `replayed in parallel (at most ${overlapping} at once)`);
    assert.ok(overlapping <= 8, `with bounded concurrency (${overlapping} at once)`);
  } finally {
    await gateway.stop();
    removeHome(home);
    await mock.stop();
  }
});
