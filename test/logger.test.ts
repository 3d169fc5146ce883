import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../src/logger.js';
import { createPrettyFormatter } from '../src/log-format.js';
import { apiError } from '../worker/http/errors.js';

test('secrets never reach a log line', () => {
  const lines: string[] = [];
  const logger = createLogger('worker', 'info', { write: (line: string) => void lines.push(line) });
  logger.info({ token: 'T0P-SECRET', config: { apiKey: 'K3Y', secret: 'S3C' }, req: { headers: { authorization: 'Bearer T0P-SECRET' } } }, 'hello');
  logger.child({ component: 'x' }).info({ channels: { telegram: { token: 'BOT-TOKEN' } } }, 'child');
  const text = lines.join('');
  for (const secret of ['T0P-SECRET', 'K3Y', 'S3C', 'BOT-TOKEN']) assert.ok(!text.includes(secret), `${secret} redacted`);
  const first = JSON.parse(lines[0]!);
  assert.equal(first.proc, 'worker');
  assert.equal(first.token, '[redacted]');
  assert.equal(first.msg, 'hello');
});

test('an expected API error is one line with its code; an unexpected one keeps its stack', () => {
  const lines: string[] = [];
  const logger = createLogger('worker', 'info', { write: (line: string) => void lines.push(line) });
  logger.warn({ err: apiError('AGENT_ERROR', "Model provider 'openai' failed") }, 'agent turn failed');
  logger.error({ err: new Error('disk on fire') }, 'unexpected');
  const [expected, unexpected] = lines.map((line) => JSON.parse(line));
  assert.deepEqual(expected.err, { type: 'ApiError', code: 'AGENT_ERROR', message: "Model provider 'openai' failed" });
  assert.match(unexpected.err.stack, /^Error: disk on fire\n\s+at /);
  const pretty = createPrettyFormatter({ colorize: false });
  assert.match(pretty(lines[0]!), /^\S+ WARN  worker\[\d+\]: agent turn failed code=AGENT_ERROR err="Model provider 'openai' failed"$/);
  assert.ok(pretty(lines[1]!).split('\n').length > 2, 'the unexpected error shows its stack');
});
