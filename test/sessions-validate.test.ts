import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sessionFileName } from '../worker/sessions/session-key.js';
import { parseRecord } from '../worker/sessions/session-types.js';
import { startAgentApp } from './helpers/agent-app.js';
import { ECHO_RULE, startMockLlm } from './helpers/mock-llm.js';

// Valid JSON that is not a record of the session format: skipped like a torn line.
const BAD_RECORDS = [
  { t: 'turn', seq: 2, ts: 3, messages: [null, 5, { role: 'user', content: 123 }] },
  { t: 'turn', seq: 2, ts: 3, messages: [{ role: 'user', content: 'no ts' }] },
  { t: 'turn', seq: -1, ts: 3, messages: [] },
  { t: 'turn', seq: 2, ts: 3, messages: [{ role: 'assistant', content: 'x', ts: 1, toolCalls: [{ id: 1 }] }] },
  { t: 'turn', seq: 2, ts: 3, messages: [{ role: 'tool', toolCallId: 'c', toolName: 'n', content: 'x', ts: 1 }] },
  { t: 'turn', seq: '2', ts: 3, messages: [] },
  { t: 'session', key: 5 },
];

test('records that are JSON but not turns are rejected on read', () => {
  for (const record of BAD_RECORDS) assert.equal(parseRecord(JSON.stringify(record)), null, JSON.stringify(record));
  const good = { t: 'turn', seq: 0, ts: 1, ref: 'msg_1', extra: 'kept', messages: [{ role: 'user', content: 'hi', ts: 1 }, { role: 'assistant', content: 'yo', ts: 2, toolCalls: [{ id: 'c1', name: 'now', arguments: {} }] }, { role: 'tool', toolCallId: 'c1', toolName: 'now', content: '12:00', isError: false, ts: 2 }] };
  assert.deepEqual(parseRecord(JSON.stringify(good)), good);
});

test('a corrupt record is skipped and counted: GET /api/sessions/:key answers, and later turns never send it to the model', { timeout: 30_000 }, async () => {
  const mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
  const app = await startAgentApp({
    agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
  });
  try {
    const dir = join(app.home, 'sessions');
    mkdirSync(dir, { recursive: true });
    const parts = { agentId: 'main', channel: 'api', peerId: 'corrupt' };
    writeFileSync(join(dir, sessionFileName(parts)), [
      { t: 'session', v: 1, key: 'main:api:corrupt', ...parts, createdAt: 1 },
      { t: 'turn', seq: 0, ts: 2, messages: [{ role: 'user', content: 'first', ts: 1 }, { role: 'assistant', content: 'reply one', ts: 2 }] },
      BAD_RECORDS[0],
      { t: 'turn', seq: 2, ts: 4, messages: [{ role: 'user', content: 'second', ts: 3 }, { role: 'assistant', content: 'reply two', ts: 4 }] },
    ].map((line) => `${JSON.stringify(line)}\n`).join(''));

    const read = await app.call('GET', '/api/sessions/main:api:corrupt');
    assert.equal(read.status, 200);
    assert.deepEqual(read.json.session.messages.map((m: { content: string }) => m.content), ['first', 'reply one', 'second', 'reply two']);
    assert.equal(read.json.session.skippedRecords, 1);

    const turn = await app.call('POST', '/api/agent', { message: 'third', session: 'corrupt' });
    assert.equal(turn.status, 200, JSON.stringify(turn.json));
    assert.equal(turn.json.reply, 'third');
    const after = await app.call('GET', '/api/sessions/main:api:corrupt');
    assert.deepEqual(after.json.session.messages.map((m: { content: string }) => m.content).slice(-2), ['third', 'third']);
    assert.equal(after.json.session.messageCount, 6);
  } finally {
    await app.close();
    await mock.stop();
  }
});
