import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeHome, startGateway, tempHome, waitUntil, type Gateway } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';
import { startTelegramEmulator } from './helpers/telegram.js';
import { legacySignature, startReplyReceiver } from './helpers/webhook-receiver.js';

/**
 * Inbound channel messages are accepted before the agent runs (webhook: 202, Telegram
 * webhook mode: 200, after which Telegram forgets the update): they must survive the
 * worker dying right after (kill -9), and be answered once, by the next worker.
 */

const SECRET = 'durable-webhook-secret';
const CHATS = 6;
const PER_CHAT = 5;
// Slow answers (a long reply streamed in small chunks): the kill lands while turns run.
const SLOW = { streaming: { chunkSize: 20, chunkIntervalMs: 40 }, rules: [chatRule('@', 200, completion(`echo {{jmes request body.messages[-1].content}} ${'z'.repeat(400)}`))] };

function killWorker(gateway: Gateway): number {
  const { workerPid } = gateway.lock()!;
  process.kill(workerPid!, 'SIGKILL');
  return workerPid!;
}

test(`${CHATS * PER_CHAT} signed webhook messages, kill -9 of the worker: each answered once, by the next worker, in order per chat`, { timeout: 120_000 }, async (t) => {
  const mock = await startMockLlm(SLOW);
  const receiver = await startReplyReceiver();
  const home = tempHome('xopc-webhook-durable-');
  const gateway = await startGateway({
    home,
    config: {
      agents: { defaults: { model: 'mock/durable', maxRetries: 0, timeoutMs: 30_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      channels: { webhook: { enabled: true, secret: SECRET, replyUrl: receiver.url, legacySignature: true } },
    },
  });
  try {
    // Each chat's messages one after another (their order is the order to keep), chats side by side.
    const accepted = new Map<string, { chatId: string; content: string }>();
    await Promise.all(Array.from({ length: CHATS }, async (_, c) => {
      for (let i = 0; i < PER_CHAT; i++) {
        const data = { chat_id: `room-${c}`, content: `m${c}-${i}` };
        const raw = JSON.stringify({ event: 'message', data });
        const res = await fetch(gateway.url('/api/webhook/webhook'), {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...legacySignature(SECRET, raw) },
          body: raw,
        });
        assert.equal(res.status, 202);
        accepted.set(((await res.json()) as { message_id: string }).message_id, { chatId: data.chat_id, content: data.content });
      }
    }));
    const killed = killWorker(gateway);
    assert.ok(receiver.replies.length < accepted.size, 'the kill came before every reply went out');
    await gateway.waitForServing({ exceptWorkerPid: killed });

    await waitUntil(() => new Set(receiver.replies.map((r) => r.inReplyTo)).size >= accepted.size, 90_000, 'a reply to every accepted message');
    for (const [id, { chatId, content }] of accepted) {
      const replies = receiver.replies.filter((r) => r.inReplyTo === id);
      assert.ok(replies.length >= 1, `${id} answered`);
      // A kill between delivery and crossing the message off repeats the delivery, with its id.
      assert.equal(new Set(replies.map((r) => r.delivery)).size, 1, `${id}: one delivery id, however often it was sent`);
      assert.equal(replies[0]!.chatId, chatId);
      assert.ok(replies[0]!.content.startsWith(`echo ${content} `), `${id}: its own reply`);
    }
    const headers = { authorization: `Bearer ${gateway.token}` };
    for (let c = 0; c < CHATS; c++) {
      const res = await fetch(gateway.url(`/api/sessions/main:webhook:room-${c}?limit=1000`), { headers });
      const { session } = (await res.json()) as { session: { messages: Array<{ role: string; content: string }> } };
      const asked = session.messages.filter((m) => m.role === 'user').map((m) => m.content);
      assert.deepEqual(asked, Array.from({ length: PER_CHAT }, (_, i) => `m${c}-${i}`), `room-${c}: each message answered once, in the order sent`);
      const delivered = receiver.replies.filter((r) => r.chatId === `room-${c}`).map((r) => r.content.split(' ')[1]);
      assert.deepEqual([...new Set(delivered)], asked, `room-${c}: replies delivered in order`);
    }
    assert.match(gateway.output(), /answering a message left by a stopped worker/, 'the next worker answered what the killed one left');
    t.diagnostic(`accepted ${accepted.size}, replies ${receiver.replies.length} (repeated deliveries: ${receiver.replies.length - accepted.size})`);
  } finally {
    await gateway.stop();
    removeHome(home);
    await receiver.close();
    await mock.stop();
  }
});

test('Telegram webhook-mode updates answered 200, then kill -9 of the worker: each answered once by the next worker', { timeout: 120_000 }, async () => {
  const mock = await startMockLlm(SLOW);
  const telegram = await startTelegramEmulator();
  const home = tempHome('xopc-telegram-durable-');
  const webhookSecret = 'tg_hook_secret-1';
  const gateway = await startGateway({
    home,
    config: {
      agents: { defaults: { model: 'mock/durable', maxRetries: 0, timeoutMs: 30_000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      channels: { telegram: { enabled: true, token: telegram.token, apiRoot: telegram.apiRoot, mode: 'webhook', webhookSecret } },
    },
  });
  try {
    const texts: string[] = [];
    await Promise.all(Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; i < 3; i++) {
        const updateId = 1000 + c * 10 + i;
        const text = `t${c}-${i}`;
        const chat = { id: 2000 + c, type: 'private' };
        const res = await fetch(gateway.url('/api/webhook/telegram'), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': webhookSecret },
          body: JSON.stringify({ update_id: updateId, message: { message_id: updateId, date: 0, chat, from: { id: chat.id, is_bot: false, first_name: 'U' }, text } }),
        });
        assert.equal(res.status, 200);
        texts.push(text);
      }
    }));
    const killed = killWorker(gateway);
    assert.ok(telegram.botMessages().length < texts.length, 'the kill came before every reply went out');
    await gateway.waitForServing({ exceptWorkerPid: killed });
    const sent = await telegram.waitForBotMessages(texts.length, { timeoutMs: 90_000 });
    const answered = sent.map((m) => m.text.split(' ')[1]!);
    assert.deepEqual([...answered].sort(), [...texts].sort(), 'every update answered, none twice');
    for (let c = 0; c < 4; c++) {
      const chat = telegram.botMessages(2000 + c).map((m) => m.text.split(' ')[1]);
      assert.deepEqual(chat, [0, 1, 2].map((i) => `t${c}-${i}`), `chat ${2000 + c}: in order`);
    }
  } finally {
    await gateway.stop();
    removeHome(home);
    await telegram.stop();
    await mock.stop();
  }
});
