import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger as createPinoLogger } from '../src/logger.js';
import { createLogger, type Logger } from '../supervisor/logger.js';

/** Runs the same calls on a logger and returns its lines, parsed, without their time. */
function linesOf(build: (write: (line: string) => void) => Logger, calls: (logger: Logger) => void): Array<Record<string, unknown>> {
  const lines: string[] = [];
  calls(build((line) => void lines.push(line)));
  return lines.map((line) => {
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line each');
    const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
    assert.equal(typeof time, 'number');
    return rest;
  });
}

test("the supervisor's lines are pino's lines: keys, levels, children, errors and their causes", () => {
  const err = Object.assign(new Error('bind failed', { cause: new Error('EADDRINUSE') }), { code: 'EADDRINUSE', port: 80 });
  const calls = (logger: Logger) => {
    logger.info({ workerPid: 42, background: true }, 'worker started');
    logger.warn('SIGUSR1 received while not running steadily: ignored');
    logger.debug('not at info');
    logger.error({ err, stderr: undefined }, 'restart failed');
    logger.fatal({ err: 'a plain reason' }, 'giving up');
    logger.child({ component: 'control' }).child({ workerPid: 7 }).info({ cmd: 'stop' }, 'control request');
    logger.info({ only: 'fields' });
  };
  const pinoLines = linesOf((write) => createPinoLogger('supervisor', 'info', { write }), calls);
  const ownLines = linesOf((write) => createLogger('info', { write }), calls);
  assert.deepEqual(ownLines, pinoLines);
  assert.equal(ownLines.length, 6);
  assert.deepEqual(Object.keys(ownLines[0]!), ['level', 'pid', 'proc', 'workerPid', 'background', 'msg'], 'key order as pino writes it');
});

test('secrets never reach a supervisor log line', () => {
  const lines: string[] = [];
  const logger = createLogger('trace', { write: (line) => void lines.push(line) });
  logger.info({ token: 'T0P-SECRET', config: { apiKey: 'K3Y', secret: 'S3C' }, req: { headers: { authorization: 'Bearer T0P-SECRET' } } }, 'hello');
  logger.child({ component: 'x' }).warn({ channels: { telegram: { token: 'BOT-TOKEN', webhookSecret: 'HOOK' } } }, 'child');
  const text = lines.join('');
  for (const secret of ['T0P-SECRET', 'K3Y', 'S3C', 'BOT-TOKEN', 'HOOK']) assert.ok(!text.includes(secret), `${secret} redacted`);
  assert.equal(JSON.parse(lines[0]!).token, '[redacted]');
});
