import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { waitUntil } from './helpers/gateway.js';
import { chatRule, completion, ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { startTelegramEmulator, type TelegramEmulator, type TelegramUser } from './helpers/telegram.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const ALICE: TelegramUser = { userId: 1001, userName: 'alice' };
const BOB: TelegramUser = { userId: 1002, userName: 'bob' };
const STRANGER: TelegramUser = { userId: 6666, userName: 'mallory' };
const GROUP: TelegramUser = { userId: 1001, userName: 'alice', chatId: -100555, type: 'supergroup' };

// 60 paragraphs of 100 characters: 6,059 characters with the blank lines between them.
const PARAGRAPH = 'x'.repeat(99) + '.';
const LONG_REPLY = Array.from({ length: 60 }, () => PARAGRAPH).join('\\n\\n');
const LONG_RULE = chatRule("body.messages[-1].content == 'long please'", 200, completion(LONG_REPLY));

function gatewayConfig(mock: MockLlm, telegram: Record<string, unknown>) {
  return {
    agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    channels: {
      telegram: {
        enabled: true, token: '123456:test-bot-token', allowFrom: ['@Alice', 1002], pollIntervalMs: 20,
        sendRetry: { attempts: 2, minDelayMs: 100, maxDelayMs: 200 }, ...telegram,
      },
    },
  };
}

describe('telegram channel, long polling against telegram-test-api', () => {
  let mock: MockLlm;
  let telegram: TelegramEmulator;
  let app: AgentApp;

  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE, LONG_RULE] });
    telegram = await startTelegramEmulator();
    app = await startAgentApp(gatewayConfig(mock, { apiRoot: telegram.apiRoot }));
    await app.features.startBackground();
  });
  after(async () => {
    await app?.close();
    await telegram?.stop();
    await mock?.stop();
  });

  test('a user message gets the agent reply in its chat; each chat is its own session', async () => {
    await telegram.say(ALICE, 'hello from alice');
    await telegram.say(GROUP, 'hello from the group');
    assert.deepEqual(await telegram.waitForBotMessages(1, { chatId: ALICE.userId }), [{ chatId: '1001', text: 'hello from alice' }]);
    assert.deepEqual(await telegram.waitForBotMessages(1, { chatId: -100555 }), [{ chatId: '-100555', text: 'hello from the group' }]);
    const privateChat = await app.call('GET', '/api/sessions/main:telegram:1001');
    assert.deepEqual(privateChat.json.session.messages.map((m: any) => m.content), ['hello from alice', 'hello from alice']);
    const group = await app.call('GET', '/api/sessions/main:telegram:-100555');
    assert.deepEqual(group.json.session.messages.map((m: any) => m.content), ['hello from the group', 'hello from the group']);
  });

  test('a sender not in allowFrom gets nothing; ids and usernames (any case, with @) are allowed', async () => {
    await telegram.say(STRANGER, 'let me in');
    await telegram.say(BOB, 'bob by id');
    await telegram.waitForBotMessages(1, { chatId: BOB.userId });
    // The stranger's update came first and is dropped as it is read: by now it was seen.
    assert.equal(telegram.unreadUpdates(), 0);
    assert.deepEqual(telegram.botMessages(STRANGER.userId), []);
    assert.equal((await app.call('GET', '/api/sessions/main:telegram:6666')).status, 404);
  });

  test('a 6,000-character reply arrives as two messages split at a paragraph', async () => {
    const before = telegram.botMessages(1001).length;
    await telegram.say(ALICE, 'long please');
    const parts = (await telegram.waitForBotMessages(before + 2, { chatId: 1001 })).slice(before).map((m) => m.text);
    assert.equal(parts.length, 2);
    for (const part of parts) assert.ok(part.length <= 4096, `part of ${part.length} characters`);
    assert.ok(parts[0]!.endsWith(PARAGRAPH) && parts[1]!.startsWith(PARAGRAPH), 'cut between paragraphs');
    assert.equal(parts.join('\n\n'), LONG_REPLY.replaceAll('\\n', '\n'));
  });

  test('POST /api/message answers a message_id at once and delivers the reply to the chat', async () => {
    const res = await app.call('POST', '/api/message', { channel: 'telegram', chat_id: 2001, content: 'async hello' });
    assert.equal(res.status, 202);
    assert.equal(res.json.status, 'ok');
    assert.match(res.json.message_id, /^msg_[0-9a-f]{24}$/);
    assert.deepEqual(await telegram.waitForBotMessages(1, { chatId: 2001 }), [{ chatId: '2001', text: 'async hello' }]);
  });

  test('POST /api/message/sync returns the reply after delivering it', async () => {
    const res = await app.call('POST', '/api/message/sync', { channel: 'telegram', chat_id: '-100777', content: 'sync hello' });
    assert.equal(res.status, 200);
    assert.equal(res.json.reply, 'sync hello');
    assert.deepEqual(telegram.botMessages(-100777), [{ chatId: '-100777', text: 'sync hello' }]);
  });

  test('an Idempotency-Key retry returns the same message_id and is processed once', async () => {
    const post = (content: string, key: string) => fetch(`${app.url}/api/message`, {
      method: 'POST',
      headers: { authorization: `Bearer ${app.config.gateway.auth.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ channel: 'telegram', chat_id: 2002, content }),
    }).then(async (r) => ({ status: r.status, json: await r.json() as any }));
    const first = await post('only once', 'key-123');
    const retry = await post('only once', 'key-123');
    assert.equal(retry.status, 202);
    assert.equal(retry.json.message_id, first.json.message_id);
    await telegram.waitForBotMessages(1, { chatId: 2002 });
    // Same session, so this turn runs after anything the retry could have started.
    await app.call('POST', '/api/message/sync', { channel: 'telegram', chat_id: 2002, content: 'marker' });
    assert.deepEqual(telegram.botMessages(2002).map((m) => m.text), ['only once', 'marker']);

    const reused = await post('something else', 'key-123');
    assert.equal(reused.status, 400);
    assert.equal(reused.json.error.code, 'INVALID_REQUEST');
  });

  test('unknown or disabled channels are CHANNEL_NOT_FOUND; polling mode takes no webhooks', async () => {
    for (const channel of ['nope', 'webhook']) {
      const res = await app.call('POST', '/api/message', { channel, chat_id: '1', content: 'hi' });
      assert.equal(res.status, 404);
      assert.equal(res.json.error.code, 'CHANNEL_NOT_FOUND');
    }
    const hook = await fetch(`${app.url}/api/webhook/telegram`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"update_id":1}' });
    assert.equal(hook.status, 404);
    assert.equal(((await hook.json()) as any).error.code, 'CHANNEL_NOT_FOUND');
  });

  test('the polling offset is journaled under the state dir and nothing stays pending', async () => {
    const file = join(app.home, 'channels', 'telegram-123456.json');
    const journal = JSON.parse(readFileSync(file, 'utf8'));
    assert.ok(journal.offset > 1);
    assert.deepEqual(journal.pending, []);
  });

  test('emulator down: sync is CHANNEL_ERROR, polling backs off and recovers when it is back', async () => {
    await telegram.stop();
    const res = await app.call('POST', '/api/message/sync', { channel: 'telegram', chat_id: 2003, content: 'nobody home' });
    assert.equal(res.status, 502);
    assert.equal(res.json.error.code, 'CHANNEL_ERROR');
    assert.match(res.json.error.message, /main:telegram:2003/);
    assert.doesNotMatch(res.json.error.message, /test-bot-token/);
    assert.equal((await fetch(`${app.url}/health`)).status, 200);

    // Back on the same port: the poller, backing off meanwhile, finds it again.
    telegram = await startTelegramEmulator({ port: telegram.port });
    await telegram.say(ALICE, 'are you back');
    assert.deepEqual(await telegram.waitForBotMessages(1), [{ chatId: '1001', text: 'are you back' }]);
  });
});

describe('telegram channel, restart state', () => {
  test('an update journaled but not answered by a previous worker is answered once at start', async () => {
    const mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
    const telegram = await startTelegramEmulator();
    const app = await startAgentApp(gatewayConfig(mock, { apiRoot: telegram.apiRoot }));
    try {
      const dir = join(app.home, 'channels');
      mkdirSync(dir, { recursive: true });
      const update = { update_id: 41, message: { message_id: 7, date: 0, chat: { id: 1001, type: 'private' }, from: { id: 1001, is_bot: false, first_name: 'A', username: 'alice' }, text: 'left over' } };
      writeFileSync(join(dir, 'telegram-123456.json'), JSON.stringify({ v: 1, offset: 42, pending: [update] }));
      await app.features.startBackground();
      assert.deepEqual(await telegram.waitForBotMessages(1), [{ chatId: '1001', text: 'left over' }]);
      await app.features.stopBackground();
      const journal = JSON.parse(readFileSync(join(dir, 'telegram-123456.json'), 'utf8'));
      assert.deepEqual(journal, { v: 1, offset: 42, pending: [] });
    } finally {
      await app.close();
      await telegram.stop();
      await mock.stop();
    }
  });
});

describe('telegram channel, webhook mode', () => {
  let mock: MockLlm;
  let telegram: TelegramEmulator;
  let app: AgentApp;
  const SECRET = 'hook_secret-123';
  const WEBHOOK_URL = 'https://bot.example.com/api/webhook/telegram';

  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
    telegram = await startTelegramEmulator();
    app = await startAgentApp(gatewayConfig(mock, { apiRoot: telegram.apiRoot, mode: 'webhook', webhookSecret: SECRET, webhookUrl: WEBHOOK_URL }));
    await app.features.startBackground();
  });
  after(async () => {
    await app?.close();
    await telegram?.stop();
    await mock?.stop();
  });

  const update = (id: number, text: string) => ({ update_id: id, message: { message_id: id, date: 0, chat: { id: 1001, type: 'private' }, from: { id: 1001, is_bot: false, first_name: 'A', username: 'alice' }, text } });
  const deliver = (body: unknown, secret?: string) => fetch(`${app.url}/api/webhook/telegram`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret === undefined ? {} : { 'x-telegram-bot-api-secret-token': secret }) },
    body: JSON.stringify(body),
  });

  test('right secret: answered 200 at once, the reply reaches the chat, a redelivery is handled once', async () => {
    const first = await deliver(update(500, 'via webhook'), SECRET);
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), { ok: true });
    assert.equal((await deliver(update(500, 'via webhook'), SECRET)).status, 200);
    await telegram.waitForBotMessages(1);
    assert.equal((await deliver(update(501, 'second'), SECRET)).status, 200);
    assert.deepEqual((await telegram.waitForBotMessages(2)).map((m) => m.text), ['via webhook', 'second']);
  });

  test('with webhookUrl the owner registers the webhook with its secret', async () => {
    const webhooks = (telegram.server as unknown as { webhooks: Record<string, { url: string; secret_token?: string }> }).webhooks;
    const registered = await waitUntil(() => webhooks[telegram.token], 5000, 'setWebhook');
    assert.equal(registered.url, WEBHOOK_URL);
    assert.equal(registered.secret_token, SECRET);
  });

  test('wrong or missing secret: 401 and nothing happens', async () => {
    const wrong = await deliver(update(600, 'forged'), 'not-the-secret');
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as any).error.code, 'UNAUTHORIZED');
    assert.equal((await deliver(update(601, 'forged too'))).status, 401);
    const count = telegram.botMessages().length;
    assert.equal((await deliver(update(602, 'genuine'), SECRET)).status, 200);
    const after = await telegram.waitForBotMessages(count + 1);
    assert.deepEqual(after.slice(count).map((m) => m.text), ['genuine']);
    assert.ok(!after.some((m) => m.text.startsWith('forged')));
    assert.equal(existsSync(join(app.home, 'channels', 'telegram-123456.json')), false, 'webhook mode keeps no polling journal');
  });
});
