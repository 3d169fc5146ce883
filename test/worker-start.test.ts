import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// Every module the worker loads before it is ready delays /health after a start or a
// crash: what only some routes or channels need loads when they are first used.
const WORKER_START = fileURLToPath(new URL('./fixtures/worker-start.js', import.meta.url));

/** The npm packages the worker's features and app load at start-up with this config. */
async function packagesLoadedAtStart(config: Record<string, unknown>): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [WORKER_START, JSON.stringify(config)], { timeout: 30_000 });
  return (JSON.parse(stdout) as { packages: string[] }).packages;
}

test('a default worker starts without the body parser, the JSON Schema converter, grammy, croner or the page server', async () => {
  const packages = await packagesLoadedAtStart({});
  assert.ok(packages.includes('koa'), `recorded: ${packages.join(', ')}`);
  for (const lazy of ['koa-bodyparser', '@valibot/to-json-schema', 'grammy', 'croner', '@mariozechner/pi-ai', 'koa-static', 'koa-send', 'tail-file']) {
    assert.ok(!packages.includes(lazy), `${lazy} loaded at start-up; recorded: ${packages.join(', ')}`);
  }
});

test('an enabled channel loads its module at start-up', async () => {
  const packages = await packagesLoadedAtStart({
    channels: { telegram: { enabled: true, token: '123456:test-bot-token' }, webhook: { enabled: true, secret: 'webhook-secret' } },
  });
  assert.ok(packages.includes('grammy'), `recorded: ${packages.join(', ')}`);
});
