import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm } from './helpers/mock-llm.js';
import { startTelegramEmulator, type TelegramUser } from './helpers/telegram.js';

const USERS: TelegramUser[] = [{ userId: 3001, userName: 'ann' }, { userId: 3002, userName: 'ben', chatId: -100300, type: 'group' }];
const RESTARTS = 2;
// A message every this many ms per user while the restarts run.
const SEND_EVERY_MS = 40;

/**
 * The channels in a real gateway (supervisor + worker processes).
 *
 * SIGUSR1 restarts while users keep writing: with Telegram's own long-polling rules in
 * front of the emulator (held getUpdates, offsets, 409 for a second poller), every
 * message is answered exactly once, in order per chat, and no poll ever conflicts.
 */
for (const mode of ['in-process', 'respawn'] as const) {
  test(`${mode} restarts while users write: no lost or duplicated update, no 409`, { timeout: 90_000 }, async () => {
    const mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
    const telegram = await startTelegramEmulator({ longPolling: true });
    let gateway: Gateway | undefined;
    let sending = true;
    let senders: Array<Promise<void>> = [];
    try {
      gateway = await startGateway({
        env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', ...(mode === 'in-process' ? { XOPC_NO_RESPAWN: '1' } : {}) },
        config: {
          agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
          providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
          channels: { telegram: { enabled: true, token: telegram.token, apiRoot: telegram.apiRoot, pollTimeoutSeconds: 5 } },
        },
      });
      await telegram.say(USERS[0]!, 'warm-up');
      await telegram.waitForBotMessages(1, { timeoutMs: 15_000 });

      const sent = new Map<string, string[]>(USERS.map((user) => [String(user.chatId ?? user.userId), []]));
      senders = USERS.map(async (user) => {
        for (let i = 0; sending; i++) {
          const text = `${mode}-${user.userName}-${i}`;
          await telegram.say(user, text);
          sent.get(String(user.chatId ?? user.userId))!.push(text);
          await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
        }
      });
      for (let i = 0; i < RESTARTS; i++) {
        const before = gateway.lock()!;
        process.kill(before.pid, 'SIGUSR1');
        await gateway.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: 30_000 });
      }
      sending = false;
      await Promise.all(senders);

      const total = 1 + [...sent.values()].reduce((sum, texts) => sum + texts.length, 0);
      await telegram.waitForBotMessages(total, { timeoutMs: 30_000 });
      for (const [chatId, texts] of sent) {
        const replies = telegram.botMessages(chatId).map((m) => m.text).filter((text) => text !== 'warm-up');
        assert.deepEqual(replies, texts, `chat ${chatId}: every message answered once, in order`);
      }
      assert.equal(telegram.botMessages().length, total, 'no extra replies');
      assert.ok(total > 10, `users really wrote during the restarts (${total} messages)`);
      assert.equal(telegram.conflicts(), 0, 'no getUpdates was overtaken by a second poller (Telegram would answer 409)');
      // A respawned supervisor logs only to the file, so look there too.
      const log = readFileSync(join(gateway.home, 'logs', 'gateway.log'), 'utf8');
      for (const text of [gateway.output(), log]) assert.doesNotMatch(text, /another getUpdates|Conflict|Telegram getUpdates failed/);
      assert.match(log, /Telegram long polling stopped/, 'the log file does hold the workers\' channel lines');
    } catch (err) {
      // What the gateway said is what explains a failure here.
      if (err instanceof Error && gateway) err.message += `\n--- gateway output (tail) ---\n${gateway.output().slice(-6000)}`;
      throw err;
    } finally {
      sending = false;
      await Promise.allSettled(senders);
      await gateway?.stop();
      await telegram.stop();
      await mock.stop();
    }
  });
}

test('Telegram down: sync is CHANNEL_ERROR, the worker stays up and polling resumes when it is back', { timeout: 60_000 }, async () => {
  const mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
  let telegram = await startTelegramEmulator();
  let gateway: Gateway | undefined;
  try {
    gateway = await startGateway({
      config: {
        agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
        channels: { telegram: { enabled: true, token: telegram.token, apiRoot: telegram.apiRoot, pollIntervalMs: 50, sendRetry: { attempts: 2, minDelayMs: 100, maxDelayMs: 200 } } },
      },
    });
    const workerPid = gateway.lock()!.workerPid;
    await telegram.stop();

    const res = await fetch(gateway.url('/api/message/sync'), {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'telegram', chat_id: 4001, content: 'anyone there' }),
    });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as any).error.code, 'CHANNEL_ERROR');
    assert.equal((await fetch(gateway.url('/health'))).status, 200);
    assert.equal(gateway.lock()!.workerPid, workerPid, 'the same worker still serves');

    // Telegram comes back where it was: the poller, backing off meanwhile, finds it again.
    telegram = await startTelegramEmulator({ port: telegram.port });
    await telegram.say({ userId: 4001, userName: 'dora' }, 'back again');
    assert.deepEqual(await telegram.waitForBotMessages(1, { timeoutMs: 40_000 }), [{ chatId: '4001', text: 'back again' }]);
    assert.equal(gateway.lock()!.workerPid, workerPid);
  } finally {
    await gateway?.stop();
    await telegram.stop().catch(() => undefined);
    await mock.stop();
  }
});
