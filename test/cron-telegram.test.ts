import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { waitUntil } from './helpers/gateway.js';
import { chatRule, completion, ECHO_RULE, startMockLlm, toolCallRule, type MockLlm } from './helpers/mock-llm.js';
import { startTelegramEmulator, type TelegramEmulator, type TelegramUser } from './helpers/telegram.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const ALICE: TelegramUser = { userId: 1001, userName: 'alice' };
const FAST = { chunkSize: 200, chunkIntervalMs: 1 };

/** Cron replies delivered to a real Telegram Bot API emulator (telegram-test-api). */
describe('cron jobs delivering to Telegram', () => {
  let mock: MockLlm;
  let telegram: TelegramEmulator;
  let app: AgentApp;

  before(async () => {
    mock = await startMockLlm({ streaming: FAST, rules: [ECHO_RULE] });
    telegram = await startTelegramEmulator();
    app = await startAgentApp({
      agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      channels: { telegram: { enabled: true, token: telegram.token, allowFrom: ['alice'], apiRoot: telegram.apiRoot, pollIntervalMs: 20 } },
    });
    await app.features.startBackground();
  });
  after(async () => {
    await app?.close();
    await telegram?.stop();
    await mock?.stop();
  });

  test('a 6-field every-second job runs several times and each reply reaches the chat', async () => {
    const created = await app.call('POST', '/api/cron/create', { schedule: '* * * * * *', message: 'time to stretch', channel: 'telegram', chat_id: ALICE.userId });
    assert.equal(created.status, 200, JSON.stringify(created.json));
    const { job } = created.json;
    assert.equal(job.chat_id, '1001');

    const messages = await telegram.waitForBotMessages(3, { chatId: ALICE.userId });
    assert.deepEqual(messages.slice(0, 3), Array.from({ length: 3 }, () => ({ chatId: '1001', text: 'time to stretch' })));
    const recorded = (await app.call('GET', `/api/cron/${job.id}`)).json.job;
    assert.ok(recorded.runs.length >= 3);
    for (const run of recorded.runs) {
      assert.equal(run.status, 'ok', JSON.stringify(run));
      assert.equal(run.deliveredTo, 'telegram:1001');
    }

    // Off and settled before the next test counts this chat's messages.
    await app.call('POST', `/api/cron/${job.id}/toggle`, { enabled: false });
    await waitUntil(async () => !(await app.call('GET', `/api/cron/${job.id}`)).json.job.running, 5000, 'the last run to finish');
    assert.equal((await app.call('DELETE', `/api/cron/${job.id}`)).status, 200);
  });

  test('"remind me" in a Telegram chat schedules a job whose reply comes back to that chat', async () => {
    const at = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000).toISOString();
    await mock.setConfig({
      streaming: FAST,
      rules: [
        ECHO_RULE,
        toolCallRule("contains(body.messages[-1].content, 'remind me')", [{ id: 'call_remind', name: 'cron_schedule', arguments: { at, message: 'Drink some water.' } }]),
        chatRule("body.messages[-1].role == 'tool'", 200, completion('Reminder set.')),
      ],
    });
    const before = telegram.botMessages(ALICE.userId).length;
    await telegram.say(ALICE, 'remind me to drink water in a moment');
    const [confirmation, reminder] = (await telegram.waitForBotMessages(before + 2, { chatId: ALICE.userId })).slice(before);
    assert.equal(confirmation!.text, 'Reminder set.');
    assert.equal(reminder!.text, 'Drink some water.');

    const [job] = (await app.call('GET', '/api/cron')).json.jobs;
    assert.equal(job.channel, 'telegram');
    assert.equal(job.chat_id, '1001');
    assert.equal(job.at, at);
    const spent = await waitUntil(async () => {
      const current = (await app.call('GET', `/api/cron/${job.id}`)).json.job;
      return current.runs.length === 1 && !current.running ? current : null;
    }, 5000, 'the one-shot run to be recorded');
    assert.equal(spent.enabled, false);
    assert.equal(spent.runs[0].deliveredTo, 'telegram:1001');
  });
});
