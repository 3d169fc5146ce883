import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrettyFormatter } from '../src/log-format.js';

// Local time of this instant, as the formatter prints it.
const TIME = new Date(2025, 0, 31, 9, 5, 7, 42).getTime();
const plain = createPrettyFormatter({ colorize: false });

test('one JSON line becomes time, level, process tag, message and compact fields', () => {
  const line = JSON.stringify({ level: 30, time: TIME, pid: 7, proc: 'supervisor', hostname: 'h', msg: 'worker ready', port: 18790, host: '0.0.0.0', tags: ['a'], note: 'two words' });
  assert.equal(plain(line), '09:05:07.042 INFO  supervisor[7]: worker ready port=18790 host=0.0.0.0 tags=["a"] note="two words"');
  assert.equal(plain(JSON.stringify({ level: 35, msg: 'custom' })), 'L35   custom');
  assert.equal(plain(JSON.stringify({ level: 'warn', component: 'cron', msg: 'late' })), 'WARN  cron: late');
});

test('lines that are not JSON objects come back unchanged', () => {
  for (const line of ['', 'plain text', '[1,2]', '{"broken":', '  {"level":30}']) assert.equal(plain(line), line);
});

test('an error shows its message inline and its stack below', () => {
  const line = JSON.stringify({ level: 50, time: TIME, msg: 'send failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' } });
  assert.equal(plain(line), '09:05:07.042 ERROR send failed err=boom\n    Error: boom\n        at f (x.js:1:1)');
});

test('control characters from logged input cannot drive the terminal', () => {
  const line = JSON.stringify({ level: 30, msg: 'hi\x1b[2J\nthere', chat: 'x\x1b]0;title\x07', bare: 'a\x9bb' });
  const out = plain(line);
  assert.doesNotMatch(out, /[\x00-\x1f\x7f-\x9f]/);
  assert.equal(out, 'INFO  hi\\x1b[2J\\nthere chat=x\\x1b]0;title\\x07 bare=a\\x9bb');
});

test('colours only when asked for', () => {
  const line = JSON.stringify({ level: 40, time: TIME, msg: 'slow' });
  assert.doesNotMatch(plain(line), /\x1b/);
  assert.match(createPrettyFormatter({ colorize: true })(line), /\x1b\[33mWARN /);
});
