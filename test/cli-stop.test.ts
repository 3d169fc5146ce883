import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openAgentStream } from './helpers/agent-app.js';
import { removeHome, runCli, startGateway } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

test('stop --timeout gives the gateway that long to drain: a turn longer than its configured drain completes', { timeout: 60_000 }, async () => {
  // 11 characters, one every 250 ms: ~3 s, six times the configured drain.
  const mock = await startMockLlm({ streaming: { chunkSize: 1, chunkIntervalMs: 250 }, rules: [chatRule('@', 200, completion('slow answer'))] });
  const gateway = await startGateway({
    config: {
      gateway: { drainTimeoutMs: 500 },
      agents: { defaults: { model: 'mock/slow', maxRetries: 0, timeoutMs: 20_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      logging: { level: 'warn' },
    },
  });
  try {
    const pid = gateway.lock()!.pid;
    const sse = openAgentStream(gateway.url(''), gateway.token, { message: 'take your time', session: 'stop-timeout' });
    await sse.waitFor((event) => event.event === 'delta');
    const stop = await runCli(gateway.home, ['gateway', 'stop', '--timeout', '10000', '--json']);
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    const result = JSON.parse(stop.stdout) as Record<string, unknown>;
    assert.equal(result.stopped, true);
    assert.equal(result.how, 'drained');
    assert.equal(result.pid, pid);
    assert.equal(result.drainMs, 10000);
    const events = await sse.finished.catch(() => sse.events);
    assert.deepEqual(events.at(-1), { event: 'done', data: { status: 'ok', reply: 'slow answer', session: 'stop-timeout', session_key: 'main:api:stop-timeout' } });
    assert.equal((await gateway.exited).code, 0);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});

test('stop: text and --json say the same; not running is stopped=false', async () => {
  const gateway = await startGateway();
  try {
    const pid = gateway.lock()!.pid;
    const text = await runCli(gateway.home, ['gateway', 'stop']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^✅ Gateway stopped \\(pid ${pid}, \\d+ ms\\)\\.$`, 'm'));
    const again = await runCli(gateway.home, ['gateway', 'stop', '--json']);
    assert.equal(again.code, 0);
    assert.deepEqual(JSON.parse(again.stdout), { stopped: false, running: false, pid: null, notes: [] });
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});
