import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../src/logger.js';

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
