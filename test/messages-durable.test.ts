import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
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
