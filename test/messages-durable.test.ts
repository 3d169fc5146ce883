import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sessionFileName } from '../worker/sessions/session-key.js';
import { removeHome, startGateway, tempHome, waitUntil } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

// An async POST /api/message is answered 202 before the agent runs: it must survive the
// worker dying right after (kill -9), answered once by the next worker.
test('an accepted async message survives kill -9 of the worker and is answered once by the next one', { timeout: 60_000 }, async () => {
  // Slow answers (a long reply streamed in small chunks) so the kill lands mid-turn.
  const mock = await startMockLlm({ streaming: { chunkSize: 20, chunkIntervalMs: 40 }, rules: [chatRule('@', 200, completion(`echo {{jmes request body.messages[-1].content}} ${'z'.repeat(600)}`))] });
  const home = tempHome('xopc-durable-');
  const gateway = await startGateway({
    home,
    config: {
      agents: { defaults: { model: 'mock/durable', maxRetries: 0, timeoutMs: 20_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    },
  });
  try {
    const headers = { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' };
    const res = await fetch(gateway.url('/api/message'), { method: 'POST', headers, body: JSON.stringify({ channel: 'webchat', chat_id: 'durable', content: 'remember me' }) });
    assert.equal(res.status, 202);
    const { message_id: messageId } = (await res.json()) as { message_id: string };
    const pendingDir = join(home, 'messages', 'pending');
    assert.deepEqual(readdirSync(pendingDir), [`${messageId}.json`], 'written down before the 202');

    const { workerPid } = gateway.lock()!;
    process.kill(workerPid!, 'SIGKILL');
    await gateway.waitForServing({ exceptWorkerPid: workerPid! });

    // The new worker owns background services and answers what the dead one left.
    await waitUntil(() => readdirSync(pendingDir).length === 0, 30_000, 'the pending message to be answered');
    const session = await fetch(gateway.url('/api/sessions/main:webchat:durable?limit=1000'), { headers });
    assert.equal(session.status, 200);
    const { session: stored } = (await session.json()) as { session: { messages: Array<{ role: string; content: string }> } };
    const asked = stored.messages.filter((m) => m.role === 'user' && m.content === 'remember me');
    assert.equal(asked.length, 1, 'answered exactly once');
    assert.ok(stored.messages.some((m) => m.role === 'assistant' && m.content.startsWith('echo remember me')), 'with its reply');
    assert.match(gateway.output(), new RegExp(`answering a message left by a stopped worker.*messageId=${messageId}`), 'answered by the replay, not by the killed worker');
  } finally {
    await gateway.stop();
    removeHome(home);
    await mock.stop();
  }
});

// The state a kill -9 leaves between the two writes of an answered async message: its turn
// is in the session (one fsync'd append), but its pending record does not say so yet. The
// next worker must deliver the stored reply, not ask the agent again.
test('a message whose turn was stored just before its worker died is delivered from the session, not answered again', { timeout: 60_000 }, async () => {
  const mock = await startMockLlm({ rules: [chatRule('@', 200, completion('a second answer'))] });
  const deliveries: Array<{ chat_id: string; content: string }> = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      deliveries.push((JSON.parse(body) as { data: { chat_id: string; content: string } }).data);
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const home = tempHome('xopc-durable-');
  // A pid that is certainly not running any more: the worker that "died".
  const dead = spawn(process.execPath, ['-e', '']);
  await once(dead, 'exit');
  const messageId = 'msg_0123456789abcdef01234567';
  const acceptedAt = Date.now() - 1000;
  mkdirSync(join(home, 'sessions'), { recursive: true });
  writeFileSync(join(home, 'sessions', sessionFileName({ agentId: 'main', channel: 'webhook', peerId: 'c1' })), [
    { t: 'session', v: 1, key: 'main:webhook:c1', agentId: 'main', channel: 'webhook', peerId: 'c1', createdAt: acceptedAt },
    { t: 'turn', seq: 0, ts: acceptedAt + 500, ref: messageId, messages: [{ role: 'user', content: 'asked once', ts: acceptedAt + 10 }, { role: 'assistant', content: 'the stored answer', ts: acceptedAt + 400 }] },
  ].map((line) => `${JSON.stringify(line)}\n`).join(''), { mode: 0o600 });
  const pendingDir = join(home, 'messages', 'pending');
  mkdirSync(pendingDir, { recursive: true });
  writeFileSync(join(pendingDir, `${messageId}.json`), JSON.stringify({
    messageId, request: { channel: 'webhook', chatId: 'c1', content: 'asked once' },
    acceptedAt: new Date(acceptedAt).toISOString(), owner: { pid: dead.pid, startTime: null },
  }));

  const gateway = await startGateway({
    home,
    config: {
      agents: { defaults: { model: 'mock/durable', maxRetries: 0, timeoutMs: 20_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      channels: { webhook: { enabled: true, secret: 'durable-webhook-secret', replyUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/reply` } },
    },
  });
  try {
    await waitUntil(() => readdirSync(pendingDir).length === 0, 30_000, 'the pending message to be settled');
    const res = await fetch(gateway.url('/api/sessions/main:webhook:c1'), { headers: { authorization: `Bearer ${gateway.token}` } });
    const { session } = (await res.json()) as { session: { messages: Array<{ content: string }> } };
    assert.deepEqual(session.messages.map((m) => m.content), ['asked once', 'the stored answer'], 'the turn is not run again');
    assert.deepEqual(deliveries.map((d) => [d.chat_id, d.content]), [['c1', 'the stored answer']], 'the stored reply is delivered, once');
    assert.match(gateway.output(), new RegExp(`already answered in its session.*messageId=${messageId}`));
  } finally {
    await gateway.stop();
    removeHome(home);
    receiver.close();
    await mock.stop();
  }
});
