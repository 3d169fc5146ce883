import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../src/logger.js';
import { parseSessionKey } from '../worker/sessions/session-key.js';
import { createSessionStore } from '../worker/sessions/session-store.js';
import { openAgentStream } from './helpers/agent-app.js';
import { removeHome, startGateway } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

const SESSION = parseSessionKey('main:api:drain')!;

/** A gateway whose model streams one character every `intervalMs`. */
async function slowGateway(mock: MockLlm, drainTimeoutMs: number) {
  return startGateway({
    config: {
      gateway: { drainTimeoutMs },
      agents: { defaults: { model: 'mock/slow', maxRetries: 0, timeoutMs: 20_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      logging: { level: 'warn' },
    },
  });
}

async function storedTurns(home: string) {
  const store = createSessionStore({ dir: join(home, 'sessions'), logger: createLogger('worker', 'silent', { write() {} }) });
  return (await store.readMessages(SESSION, { limit: 100 }))?.messages ?? [];
}

for (const [what, drainTimeoutMs, intervalMs, completes] of [
  ['a turn in flight at SIGTERM completes within the drain bound and is stored whole', 5000, 60, true],
  ['a turn that outlasts the drain bound fails cleanly and nothing half-written is stored', 300, 400, false],
] as const) {
  test(what, { timeout: 60_000 }, async () => {
    const mock = await startMockLlm({ streaming: { chunkSize: 1, chunkIntervalMs: intervalMs }, rules: [chatRule('@', 200, completion('slow answer'))] });
    const gateway = await slowGateway(mock, drainTimeoutMs);
    try {
      const sse = openAgentStream(gateway.url(''), gateway.token, { message: 'take your time', session: 'drain' });
      await sse.waitFor((event) => event.event === 'delta');
      process.kill(gateway.lock()!.pid, 'SIGTERM');
      const events = await sse.finished.catch(() => sse.events);
      const { code } = await gateway.exited;
      assert.equal(code, 0);
      const messages = await storedTurns(gateway.home);
      if (completes) {
        assert.deepEqual(events.at(-1), { event: 'done', data: { status: 'ok', reply: 'slow answer', session: 'drain', session_key: 'main:api:drain' } });
        assert.deepEqual(messages.map((m) => [m.role, m.content]), [['user', 'take your time'], ['assistant', 'slow answer']]);
      } else {
        assert.ok(!events.some((event) => event.event === 'done'), 'the client did not get an answer');
        assert.deepEqual(messages, [], 'a cancelled turn leaves nothing behind');
      }
    } finally {
      await gateway.stop();
      removeHome(gateway.home);
      await mock.stop();
    }
  });
}
