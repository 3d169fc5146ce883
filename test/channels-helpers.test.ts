import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { backoffDelay, withRetry } from '../worker/channels/retry.js';
import { splitText } from '../worker/channels/split-text.js';
import { createAllowList, readUpdate } from '../worker/channels/telegram/telegram-updates.js';
import { signBody, verifySignature } from '../worker/channels/webhook/signature.js';

describe('splitText', () => {
  test('short text is one chunk; long text is cut at the cleanest boundary in the second half', () => {
    assert.deepEqual(splitText('  hello  '), ['hello']);
    assert.deepEqual(splitText(''), []);
    const paragraphs = `${'a'.repeat(60)}\n\n${'b'.repeat(30)}`;
    assert.deepEqual(splitText(paragraphs, 80), ['a'.repeat(60), 'b'.repeat(30)]);
    const lines = `${'a'.repeat(50)}\n${'b'.repeat(50)}`;
    assert.deepEqual(splitText(lines, 80), ['a'.repeat(50), 'b'.repeat(50)]);
    const sentences = `${'a'.repeat(50)}. ${'b'.repeat(50)}`;
    assert.deepEqual(splitText(sentences, 80), [`${'a'.repeat(50)}.`, 'b'.repeat(50)]);
    const words = `${'word '.repeat(30)}`;
    for (const chunk of splitText(words, 42)) assert.ok(chunk.length <= 42 && !chunk.startsWith(' ') && chunk.endsWith('word'));
  });

  test('a break too early in the chunk is not taken; a word too long is cut, never inside a surrogate pair', () => {
    const early = `ab\n${'c'.repeat(200)}`;
    assert.deepEqual(splitText(early, 100).map((c) => c.length), [100, 100, 3]);
    const emoji = '😀'.repeat(60); // 120 code units
    const chunks = splitText(emoji, 51);
    assert.equal(chunks.join(''), emoji);
    for (const chunk of chunks) assert.ok(chunk.length <= 51 && !/^[\udc00-\udfff]|[\ud800-\udbff]$/.test(chunk));
  });

  test('every chunk of a 6,000-character reply fits Telegram and nothing is lost but boundary whitespace', () => {
    const text = Array.from({ length: 300 }, (_, i) => `Sentence number ${i} says something.`).join(' ');
    const chunks = splitText(text);
    assert.ok(chunks.length >= 2);
    for (const chunk of chunks) assert.ok(chunk.length <= 4096);
    assert.equal(chunks.join(' '), text);
  });
});

describe('webhook signatures', () => {
  test('sha256=<hex HMAC of the raw UTF-8 body>, compared in constant time', () => {
    const body = '{"event":"message","data":{"chat_id":"1","content":"héllo"}}';
    const expected = 'sha256=' + createHmac('sha256', 's3cret').update(Buffer.from(body, 'utf8')).digest('hex');
    assert.equal(signBody('s3cret', body), expected);
    assert.equal(verifySignature('s3cret', body, expected), true);
    assert.equal(verifySignature('s3cret', body, expected.toUpperCase().replace('SHA256', 'sha256')), true);
    assert.equal(verifySignature('other', body, expected), false);
    assert.equal(verifySignature('s3cret', body + ' ', expected), false);
    assert.equal(verifySignature('s3cret', body, undefined), false);
    assert.equal(verifySignature('s3cret', body, expected.slice(7)), false);
  });
});

describe('retries', () => {
  test('backoff doubles from the minimum up to the cap, jittered in the upper half', () => {
    const policy = { minDelayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 1)), [100, 200, 400, 800, 1000, 1000]);
    assert.deepEqual([1, 2, 3].map((n) => backoffDelay(n, policy, () => 0)), [50, 100, 200]);
  });

  test('withRetry stops at the attempt bound and at errors not worth retrying', async () => {
    let calls = 0;
    await assert.rejects(withRetry(async () => {
      calls += 1;
      throw new Error('down');
    }, { policy: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 }, classify: () => ({ retry: true }) }), /down/);
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(withRetry(async () => {
      calls += 1;
      throw new Error('refused');
    }, { policy: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 }, classify: () => ({ retry: false }) }), /refused/);
    assert.equal(calls, 1);
    assert.equal(await withRetry(async (attempt) => {
      if (attempt < 2) throw new Error('once');
      return 'ok';
    }, { policy: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 }, classify: () => ({ retry: true }) }), 'ok');
  });
});

describe('telegram allowFrom and updates', () => {
  const message = (from: { id: number; username?: string }, chatId: number, text?: string) => ({
    update_id: 1,
    message: { message_id: 1, date: 0, chat: { id: chatId, type: 'private' as const, first_name: 'x' }, from: { ...from, is_bot: false, first_name: 'x' }, ...(text === undefined ? {} : { text }) },
  });

  test('usernames match in any case with or without @; ids match the sender or the chat; empty or "*" lets everyone in', () => {
    const allowed = createAllowList(['@Alice', 42, '-100777']);
    assert.equal(allowed({ fromId: 1, username: 'alice', chatId: 1 }), true);
    assert.equal(allowed({ fromId: 42, chatId: 42 }), true);
    assert.equal(allowed({ fromId: 5, username: 'eve', chatId: -100777 }), true);
    assert.equal(allowed({ fromId: 5, username: 'eve', chatId: 5 }), false);
    assert.equal(createAllowList([])({ fromId: 5, chatId: 5 }), true);
    assert.equal(createAllowList(['*'])({ fromId: 5, chatId: 5 }), true);
  });

  test('text messages become inbound messages keyed by chat; others are ignored with a reason', () => {
    const allowed = createAllowList(['alice']);
    assert.deepEqual(readUpdate(message({ id: 1, username: 'alice' }, -100123, 'hi') as any, allowed), {
      kind: 'message', message: { channel: 'telegram', chatId: '-100123', content: 'hi', sender: '@alice', externalId: '1' },
    });
    assert.deepEqual(readUpdate(message({ id: 2, username: 'eve' }, 2, 'hi') as any, allowed), { kind: 'ignored', reason: 'not-allowed', chatId: '2', sender: '@eve' });
    assert.equal(readUpdate(message({ id: 1, username: 'alice' }, 1) as any, allowed).kind, 'ignored');
    assert.equal(readUpdate({ update_id: 3 } as any, allowed).kind, 'ignored');
  });
});
