import assert from 'node:assert/strict';
import { statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { parseSessionKey, sessionFileName } from '../worker/sessions/session-key.js';
import type { StoredMessage } from '../worker/sessions/session-types.js';

function turn(text: string): StoredMessage[] {
  return [{ role: 'user', content: text, ts: Date.now() }, { role: 'assistant', content: `re: ${text}`, ts: Date.now() }];
}

describe('/api/sessions', () => {
  let app: AgentApp;

  before(async () => {
    app = await startAgentApp({ agents: { list: [{ id: 'main' }, { id: 'helper' }, { id: 'off', enabled: false }] } });
  });
  after(() => app?.close());

  /** Creates a session with `turns` stored turns, its file dated `secondsAgo` in the past. */
  async function seed(key: string, turns: number, secondsAgo: number): Promise<void> {
    const parts = parseSessionKey(key)!;
    const { store } = app.features.services;
    await store.ensure(parts);
    for (let i = 0; i < turns; i++) await store.appendTurn(parts, i * 2, turn(`${key} #${i}`));
    const when = new Date(Date.now() - secondsAgo * 1000);
    utimesSync(join(app.home, 'sessions', sessionFileName(parts)), when, when);
  }

  test('POST without chat_id creates a new session each time', async () => {
    const one = await app.call('POST', '/api/sessions', {});
    const two = await app.call('POST', '/api/sessions', {});
    assert.equal(one.status, 200);
    assert.equal(one.json.status, 'ok');
    assert.match(one.json.session.key, /^main:webchat:[0-9a-f]{16}$/);
    assert.equal(one.json.session.created, true);
    assert.equal(one.json.session.messageCount, 0);
    assert.notEqual(one.json.session.key, two.json.session.key);
  });

  test('POST with chat_id reuses the session', async () => {
    const first = await app.call('POST', '/api/sessions', { channel: 'telegram', chat_id: -100123, agentId: 'helper' });
    assert.equal(first.json.session.key, 'helper:telegram:-100123');
    assert.equal(first.json.session.created, true);
    const again = await app.call('POST', '/api/sessions', { channel: 'telegram', chat_id: '-100123', agentId: 'helper' });
    assert.equal(again.json.session.key, 'helper:telegram:-100123');
    assert.equal(again.json.session.created, false);
    assert.equal(again.json.session.createdAt, first.json.session.createdAt);
  });

  test('the session file is private to the user', async () => {
    const res = await app.call('POST', '/api/sessions', { chat_id: 'private' });
    const file = join(app.home, 'sessions', sessionFileName(parseSessionKey(res.json.session.key)!));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(app.home, 'sessions')).mode & 0o777, 0o700);
  });

  for (const [what, body, message] of [
    ['an unknown agent', { agentId: 'nobody' }, /Unknown agentId/],
    ['a disabled agent', { agentId: 'off' }, /disabled/],
    ['a bad channel', { channel: 'Web Chat' }, /channel must be/],
    ['a bad chat_id', { chat_id: 'a b' }, /chat_id must be/],
    ['a fractional chat_id', { chat_id: 1.5 }, /chat_id must be/],
    ['a non-string agentId', { agentId: 7 }, /agentId must be a string/],
  ] as const) {
    test(`POST with ${what} is INVALID_REQUEST`, async () => {
      const res = await app.call('POST', '/api/sessions', body);
      assert.equal(res.status, 400);
      assert.equal(res.json.error.code, 'INVALID_REQUEST');
      assert.match(res.json.error.message, message);
    });
  }

  test('GET lists the most recently updated first, in pages, with filters', async () => {
    // Oldest to newest: list-0 ... list-5; list-4 and list-5 belong to another agent/channel.
    const keys = ['main:page:list-0', 'main:page:list-1', 'main:page:list-2', 'main:page:list-3', 'helper:page:list-4', 'main:other:list-5'];
    for (const [index, key] of keys.entries()) await seed(key, index, 1000 - index);

    const pages = [];
    for (let offset = 0; offset < 6; offset += 2) {
      const res = await app.call('GET', `/api/sessions?channel=page&limit=2&offset=${offset}`);
      assert.equal(res.status, 200);
      assert.equal(res.json.total, 5);
      pages.push(res.json.sessions.map((s: any) => s.key));
    }
    assert.deepEqual(pages, [['helper:page:list-4', 'main:page:list-3'], ['main:page:list-2', 'main:page:list-1'], ['main:page:list-0']]);

    const helper = await app.call('GET', '/api/sessions?agentId=helper&channel=page');
    assert.deepEqual(helper.json.sessions.map((s: any) => [s.key, s.messageCount]), [['helper:page:list-4', 8]]);
    const described = (await app.call('GET', '/api/sessions?channel=page&limit=1&offset=1')).json.sessions[0];
    assert.deepEqual(Object.keys(described).sort(), ['agentId', 'channel', 'createdAt', 'key', 'messageCount', 'peerId', 'updatedAt']);
    assert.equal(described.messageCount, 6);
  });

  for (const query of ['limit=0', 'limit=abc', 'limit=501', 'offset=-1', 'channel=Bad!', 'agentId=a:b']) {
    test(`GET /api/sessions?${query} is INVALID_REQUEST`, async () => {
      const res = await app.call('GET', `/api/sessions?${query}`);
      assert.equal(res.status, 400);
      assert.equal(res.json.error.code, 'INVALID_REQUEST');
    });
  }

  test('GET /api/sessions/:key returns the latest messages, and older ones page by page', async () => {
    await seed('main:read:long', 30, 0);
    const latest = await app.call('GET', '/api/sessions/main:read:long?limit=5');
    assert.equal(latest.status, 200);
    const { session } = latest.json;
    assert.equal(session.messageCount, 60);
    assert.deepEqual(session.messages.map((m: any) => m.seq), [55, 56, 57, 58, 59]);
    assert.equal(session.messages[4].content, 're: main:read:long #29');
    assert.equal(session.hasMore, true);

    const older = await app.call('GET', '/api/sessions/main:read:long?limit=3&before=55');
    assert.deepEqual(older.json.session.messages.map((m: any) => m.seq), [52, 53, 54]);
    const first = await app.call('GET', '/api/sessions/main%3Aread%3Along?limit=10&before=2');
    assert.deepEqual(first.json.session.messages.map((m: any) => [m.seq, m.role]), [[0, 'user'], [1, 'assistant']]);
    assert.equal(first.json.session.hasMore, false);
    assert.equal((await app.call('GET', '/api/sessions/main:read:long')).json.session.messages.length, 60);
  });

  test('an unknown session is SESSION_NOT_FOUND; a malformed key is INVALID_REQUEST', async () => {
    const missing = await app.call('GET', '/api/sessions/main:api:nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'SESSION_NOT_FOUND');
    for (const key of ['main:api', 'main:API:x', 'main:api:a/b', 'main:api:../../etc', `main:api:${'x'.repeat(65)}`, 'no spaces', '..%2F..%2Fetc']) {
      const res = await app.call('GET', `/api/sessions/${encodeURIComponent(key)}`);
      assert.equal(res.status, 400, key);
      assert.equal(res.json.error.code, 'INVALID_REQUEST');
    }
    assert.equal((await app.call('GET', '/api/sessions/main:api:x?limit=0')).status, 400);
  });

  test('DELETE removes the session; a second DELETE is SESSION_NOT_FOUND', async () => {
    await seed('main:del:gone', 2, 0);
    assert.deepEqual((await app.call('DELETE', '/api/sessions/main:del:gone')).json, { status: 'ok' });
    assert.equal((await app.call('GET', '/api/sessions/main:del:gone')).status, 404);
    const again = await app.call('DELETE', '/api/sessions/main:del:gone');
    assert.equal(again.status, 404);
    assert.equal(again.json.error.code, 'SESSION_NOT_FOUND');
    assert.equal((await app.call('DELETE', '/api/sessions/main:API:x')).status, 400);
  });

  test('a short name stands for {agent}:api:{name}, as for /api/agent', async () => {
    await seed('main:api:short', 1, 0);
    await seed('helper:api:short', 2, 0);
    const got = await app.call('GET', '/api/sessions/short');
    assert.equal(got.status, 200, JSON.stringify(got.json));
    assert.equal(got.json.session.key, 'main:api:short');
    const helper = await app.call('GET', '/api/sessions/short?agentId=helper');
    assert.equal(helper.json.session.key, 'helper:api:short');
    assert.equal(helper.json.session.messageCount, 4);
    const missing = await app.call('GET', '/api/sessions/nobody-here');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error.message, /main:api:nobody-here/);
    assert.deepEqual((await app.call('DELETE', '/api/sessions/short')).json, { status: 'ok' });
    assert.equal((await app.call('GET', '/api/sessions/main:api:short')).status, 404);
    assert.equal((await app.call('GET', '/api/sessions/helper:api:short')).status, 200);
    assert.equal((await app.call('GET', '/api/sessions/short?agentId=main')).status, 404);
    // agentId must agree with a full key's agent.
    assert.equal((await app.call('GET', '/api/sessions/helper:api:short?agentId=main')).status, 400);
  });

  test('chat ids with case, ".", "@", ":" and "+" make sessions of their own', async () => {
    const ids = ['C024BE91L', 'c024be91l', 'a.b+c@example.com', 'room:42'];
    const keys: string[] = [];
    for (const chatId of ids) {
      const res = await app.call('POST', '/api/sessions', { channel: 'slack', chat_id: chatId });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.session.created, true, chatId);
      assert.equal(res.json.session.peerId, chatId);
      keys.push(res.json.session.key);
    }
    assert.deepEqual(keys, ids.map((id) => `main:slack:${id}`));
    for (const key of keys) {
      const res = await app.call('GET', `/api/sessions/${encodeURIComponent(key)}`);
      assert.equal(res.status, 200, key);
      assert.equal(res.json.session.key, key);
    }
    const listed = await app.call('GET', '/api/sessions?channel=slack');
    assert.deepEqual(listed.json.sessions.map((session: { key: string }) => session.key).sort(), [...keys].sort());
    assert.equal((await app.call('DELETE', `/api/sessions/${encodeURIComponent('main:slack:room:42')}`)).status, 200);
    assert.equal((await app.call('GET', '/api/sessions/main:slack:C024BE91L')).status, 200);
  });
});
