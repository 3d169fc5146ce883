import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config.js';
import { removeHome, startGateway, tempHome, waitUntil } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

// Back-pressure on async POST /api/message: a worker holds at most
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
