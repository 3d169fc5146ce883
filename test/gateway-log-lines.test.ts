import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openAgentStream } from './helpers/agent-app.js';
import { removeHome, startGateway, waitUntil } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

// What the terminal shows while a gateway runs in the foreground.

test('start-up lines come in time order: the worker is ready before the gateway says it listens', async () => {
  const gateway = await startGateway();
  try {
    const out = gateway.output();
    const ready = out.indexOf('worker ready');
    const listening = out.indexOf('gateway listening');
    assert.ok(ready !== -1 && listening !== -1, out);
    assert.ok(ready < listening, `out of order:\n${out}`);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});

test('an expected AGENT_ERROR is one line with its code, no stack trace', { timeout: 60_000 }, async () => {
  const mock = await startMockLlm({ rules: [chatRule('@', 500, JSON.stringify({ error: { message: 'upstream down', type: 'server_error' } }))] });
  const gateway = await startGateway({
    config: { agents: { defaults: { model: 'mock/any', maxRetries: 0 } }, providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } } },
  });
  try {
    const response = await fetch(gateway.url('/api/agent'), {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hello' }),
    });
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'AGENT_ERROR');
    const line = await waitUntil(() => gateway.output().split('\n').find((l) => l.includes('agent turn failed')), 10_000, 'the failed turn in the log');
    assert.match(line, /code=AGENT_ERROR err=/);
    await waitUntil(() => gateway.output().includes('Request failed with AGENT_ERROR'), 10_000, 'the request line');
    assert.doesNotMatch(gateway.output(), /^\s+at /m, `no stack trace:\n${gateway.output()}`);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});

test('a second Ctrl+C during the drain exits 130 and says "gateway stopped" once', { timeout: 60_000 }, async () => {
  const mock = await startMockLlm({ streaming: { chunkSize: 1, chunkIntervalMs: 300 }, rules: [chatRule('@', 200, completion('a slow answer'))] });
  const gateway = await startGateway({
    config: { gateway: { drainTimeoutMs: 20_000 }, agents: { defaults: { model: 'mock/slow', maxRetries: 0 } }, providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } } },
  });
  try {
    const sse = openAgentStream(gateway.url(''), gateway.token, { message: 'take your time', session: 'twice' });
    await sse.waitFor((event) => event.event === 'delta');
    process.kill(gateway.pid, 'SIGINT');
    await waitUntil(() => gateway.output().includes('stopping: draining'), 10_000, 'the drain to start');
    process.kill(gateway.pid, 'SIGINT');
    assert.equal((await gateway.exited).code, 130);
    await sse.finished.catch(() => undefined);
    assert.equal(gateway.output().match(/gateway stopped/g)?.length, 1, gateway.output());
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});
