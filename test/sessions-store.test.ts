import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createLogger } from '../src/logger.js';
import { createExclusive, readLinesBackward } from '../worker/sessions/session-file.js';
import { parseSessionFileName, parseSessionKey, sessionFileName } from '../worker/sessions/session-key.js';
import { createKeyedQueue } from '../worker/sessions/session-queue.js';
import { createSessionStore } from '../worker/sessions/session-store.js';
import type { StoredMessage } from '../worker/sessions/session-types.js';

const root = mkdtempSync(join(tmpdir(), 'xopc-store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
const logger = createLogger('worker', 'silent', { write() {} });
let dirs = 0;

function newStore() {
  const dir = join(root, `store-${dirs++}`);
  return { dir, store: createSessionStore({ dir, logger }) };
}

function turn(text: string): StoredMessage[] {
  return [{ role: 'user', content: text, ts: 1 }, { role: 'assistant', content: `re: ${text}`, ts: 2 }];
}

const PARTS = parseSessionKey('main:api:s1')!;

describe('session store files', () => {
  test('a torn last line is ignored, and the next append starts on a fresh line', async () => {
    const { dir, store } = newStore();
    await store.ensure(PARTS);
    await store.appendTurn(PARTS, 0, turn('one'));
    const file = join(dir, sessionFileName(PARTS));
    // What a kill -9 in the middle of write() leaves behind.
    appendFileSync(file, '{"t":"turn","seq":2,"ts":3,"messages":[{"role":"user","con');

    assert.deepEqual((await store.readRecent(PARTS, 10))!.messages.map((m) => m.content), ['one', 're: one']);
    assert.equal((await store.info(PARTS))!.messageCount, 2);

    await store.appendTurn(PARTS, 2, turn('two'));
    const recent = (await store.readRecent(PARTS, 10))!;
    assert.deepEqual(recent.messages.map((m) => [m.seq, m.content]), [[0, 'one'], [1, 're: one'], [2, 'two'], [3, 're: two']]);
    assert.equal(recent.messageCount, 4);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 5, 'header, turn, torn line, turn, final newline');
  });

  test('a file without a readable header still loads', async () => {
    const { dir, store } = newStore();
    await store.ensure(PARTS);
    const file = join(dir, sessionFileName(PARTS));
    writeFileSync(file, `{"t":"sess\n${JSON.stringify({ t: 'turn', seq: 0, ts: 5, messages: turn('kept') })}\n`);
    const info = await store.info(PARTS);
    assert.equal(info!.messageCount, 2);
    assert.equal(info!.createdAt, 5);
    assert.deepEqual((await store.readMessages(PARTS, { limit: 10 }))!.messages.map((m) => m.content), ['kept', 're: kept']);
  });

  test('readRecent returns whole turns, newest last, reading only the end of a long session', async () => {
    const { store } = newStore();
    await store.ensure(PARTS);
    for (let i = 0; i < 50; i++) await store.appendTurn(PARTS, i * 2, turn(`m${i}`));
    const recent = (await store.readRecent(PARTS, 3))!;
    // 3 messages asked: two whole turns (4 messages), never half a turn.
    assert.deepEqual(recent.messages.map((m) => m.seq), [96, 97, 98, 99]);
    assert.equal(recent.messageCount, 100);
  });

  test('readLinesBackward yields every line, last first, across chunk boundaries and multi-byte text', async () => {
    const file = join(root, 'lines.txt');
    const lines = ['first', 'ünïcödé ✓ line', '', 'x'.repeat(40), 'last without newline'];
    writeFileSync(file, lines.join('\n'));
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      for (const chunk of [1, 3, 7, 64, 1 << 16]) {
        const seen: string[] = [];
        for await (const line of readLinesBackward(handle, size, chunk, chunk)) seen.push(line);
        assert.deepEqual(seen, lines.filter(Boolean).reverse(), `chunk ${chunk}`);
      }
      const growing: string[] = [];
      for await (const line of readLinesBackward(handle, size, 2, 16)) growing.push(line);
      assert.deepEqual(growing, lines.filter(Boolean).reverse(), 'growing chunks');
    } finally {
      await handle.close();
    }
  });

  test('createExclusive creates once, complete, mode 0600', async () => {
    const file = join(root, 'exclusive.jsonl');
    assert.equal(await createExclusive(file, 'a\n'), true);
    assert.equal(await createExclusive(file, 'b\n'), false);
    assert.equal(readFileSync(file, 'utf8'), 'a\n');
  });

  test('temp files a crash left behind are removed once they are old', async () => {
    const { dir, store } = newStore();
    await store.list({ limit: 1, offset: 0 });
    const old = join(dir, '.main~api~x.jsonl.123.abcd.tmp');
    const fresh = join(dir, '.main~api~y.jsonl.123.abcd.tmp');
    writeFileSync(old, 'x');
    writeFileSync(fresh, 'y');
    const longAgo = new Date(Date.now() - 3600_000);
    utimesSync(old, longAgo, longAgo);
    await createSessionStore({ dir, logger }).list({ limit: 1, offset: 0 });
    assert.equal(existsSync(old), false);
    assert.equal(existsSync(fresh), true, 'a fresh one may be another worker\'s create in progress');
  });

  test('list pages and filters from file names; remove deletes', async () => {
    const { store } = newStore();
    for (const key of ['main:api:a', 'main:telegram:b', 'other:api:c']) await store.ensure(parseSessionKey(key)!);
    const all = await store.list({ limit: 10, offset: 0 });
    assert.equal(all.total, 3);
    assert.deepEqual((await store.list({ limit: 10, offset: 0, channel: 'api' })).sessions.map((s) => s.key).sort(), ['main:api:a', 'other:api:c']);
    assert.deepEqual((await store.list({ limit: 10, offset: 0, agentId: 'main', channel: 'telegram' })).sessions.map((s) => s.key), ['main:telegram:b']);
    assert.equal((await store.list({ limit: 1, offset: 2 })).sessions.length, 1);
    assert.equal(await store.remove(parseSessionKey('main:api:a')!), true);
    assert.equal(await store.remove(parseSessionKey('main:api:a')!), false);
    assert.equal((await store.list({ limit: 10, offset: 0 })).total, 2);
    assert.equal(await store.readMessages(parseSessionKey('main:api:a')!, { limit: 1 }), null);
  });
});

describe('session keys', () => {
  test('agent and channel are [a-z0-9_-]; file names map back to keys', () => {
    assert.deepEqual(parseSessionKey('main:telegram:-100123'), { agentId: 'main', channel: 'telegram', peerId: '-100123' });
    for (const bad of ['', 'a:b', 'A:b:c', 'a::c', 'a:b:', 'a:b:c d', `a:b:${'x'.repeat(65)}`, 'a/b:c:d', 'a:b:../x', 'a:b:c\\d', 'a:b:c%2fd', 'a:B:c']) {
      assert.equal(parseSessionKey(bad), null, bad);
    }
    const parts = parseSessionKey('main:api:x_y-1')!;
    assert.deepEqual(parseSessionFileName(sessionFileName(parts)), parts);
    assert.equal(parseSessionFileName('.main~api~x.jsonl.123.tmp'), null);
  });

  test('chat ids allow case, ".", "@", ":" and "+"; a key splits at its first two colons', () => {
    assert.deepEqual(parseSessionKey('main:slack:C024BE91L'), { agentId: 'main', channel: 'slack', peerId: 'C024BE91L' });
    assert.deepEqual(parseSessionKey('main:mail:a.b+c@example.com'), { agentId: 'main', channel: 'mail', peerId: 'a.b+c@example.com' });
    assert.deepEqual(parseSessionKey('main:matrix:room:42:x'), { agentId: 'main', channel: 'matrix', peerId: 'room:42:x' });
  });

  test('file names: reversible, lowercase only, unchanged for old keys, never a path', () => {
    const name = (key: string) => sessionFileName(parseSessionKey(key)!);
    // Keys of [a-z0-9_-] (all there were before) keep their names: existing files are found.
    assert.equal(name('main:telegram:-100123'), 'main~telegram~-100123.jsonl');
    assert.equal(name('main:slack:C024BE91L'), 'main~slack~%43024%42%4591%4c.jsonl');
    // Differing only in case: names that differ in more than case (case-insensitive file systems).
    assert.notEqual(name('main:slack:C024BE91L').toLowerCase(), name('main:slack:c024be91l').toLowerCase());
    for (const key of ['main:slack:C024BE91L', 'main:mail:a.b+c@example.com', 'main:matrix:room:42', 'main:api:..', 'main:api:.', 'main:x:%']) {
      const parts = parseSessionKey(key);
      if (!parts) continue;
      const file = sessionFileName(parts);
      assert.equal(file, file.toLowerCase(), key);
      assert.match(file, /^[a-z0-9_%~-]+\.jsonl$/, key);
      assert.deepEqual(parseSessionFileName(file), parts, key);
    }
    // Only the canonical spelling maps back: no second file for one key.
    for (const stray of ['main~api~%2E%2E.jsonl', 'main~api~%61.jsonl', 'main~api~%2f.jsonl', 'main~api~a%zz.jsonl', 'main~api~A.jsonl', 'main~api~a~b.jsonl']) {
      assert.equal(parseSessionFileName(stray), null, stray);
    }
    assert.throws(() => sessionFileName({ agentId: 'a'.repeat(64), channel: 'b'.repeat(64), peerId: 'C'.repeat(64) }), { code: 'INVALID_REQUEST', message: /too long/ });
  });

  test('a peer of dots stays inside the sessions dir', async () => {
    const parent = mkdtempSync(join(root, 'dots-'));
    const dir = join(parent, 'sessions');
    const store = createSessionStore({ dir, logger });
    for (const key of ['main:api:..', 'main:api:.', 'main:mail:a.b+c@example.com', 'main:slack:C024BE91L', 'main:slack:c024be91l']) {
      const parts = parseSessionKey(key)!;
      assert.equal((await store.ensure(parts)).created, true, key);
      await store.appendTurn(parts, 0, turn(key));
    }
    assert.deepEqual(readdirSync(dir).sort(), ['main~api~%2e.jsonl', 'main~api~%2e%2e.jsonl', 'main~mail~a%2eb%2bc%40example%2ecom.jsonl', 'main~slack~%43024%42%4591%4c.jsonl', 'main~slack~c024be91l.jsonl'].sort());
    assert.deepEqual(readdirSync(parent), ['sessions']);
    const listed = (await store.list({ limit: 10, offset: 0 })).sessions.map((info) => info.key).sort();
    assert.deepEqual(listed, ['main:api:.', 'main:api:..', 'main:mail:a.b+c@example.com', 'main:slack:C024BE91L', 'main:slack:c024be91l'].sort());
    assert.equal((await store.readRecent(parseSessionKey('main:slack:C024BE91L')!, 10))!.messages[0]!.content, 'main:slack:C024BE91L');
  });
});

describe('keyed queue', () => {
  test('runs tasks of one key one at a time in call order, and keys in parallel', async () => {
    const queue = createKeyedQueue();
    const log: string[] = [];
    const gates = new Map<string, () => void>();
    const task = (name: string) => () => {
      log.push(`start ${name}`);
      return new Promise<void>((resolve) => gates.set(name, () => {
        log.push(`end ${name}`);
        resolve();
      }));
    };
    const a1 = queue.run('a', task('a1'));
    const a2 = queue.run('a', task('a2'));
    const b1 = queue.run('b', task('b1'));
    await new Promise((resolve) => setImmediate(resolve));
    // a2 waits for a1; b1 does not wait for anything.
    assert.deepEqual(log, ['start a1', 'start b1']);
    assert.equal(queue.pending('a'), 2);
    gates.get('b1')!();
    await b1;
    gates.get('a1')!();
    await a1;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['start a1', 'start b1', 'end b1', 'end a1', 'start a2']);
    gates.get('a2')!();
    await a2;
    await queue.idle();
    assert.equal(queue.pending('a'), 0);
  });

  test('a failing task does not stop the ones queued behind it', async () => {
    const queue = createKeyedQueue();
    const failed = queue.run('k', async () => {
      throw new Error('boom');
    });
    const next = queue.run('k', async () => 'ran');
    await assert.rejects(failed, /boom/);
    assert.equal(await next, 'ran');
  });
});
