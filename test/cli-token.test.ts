import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sendControl, controlRevealsToken } from '../src/control.js';
import { generateToken, maskToken } from '../src/config.js';
import { removeHome, runCli, startGateway } from './helpers/gateway.js';

/** Every file under `dir` whose content holds `secret`, the lock excepted (it records the gateway's command line). */
function filesHolding(dir: string, secret: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, entry);
    if (!statSync(path).isFile() || path.endsWith('.lock')) continue;
    if (readFileSync(path, 'utf8').includes(secret)) found.push(entry);
  }
  return found;
}

for (const [how, start] of [
  ['--token on the command line', (token: string) => ({ args: ['--port', '0', '--host', '127.0.0.1', '--token', token] })],
  ["XOPC_GATEWAY_TOKEN in the gateway's environment only", (token: string) => ({ env: { XOPC_GATEWAY_TOKEN: token } })],
] as const) {
  test(`a token given by ${how} is found by status, token and cron, and written nowhere`, { timeout: 60_000 }, async () => {
    const token = generateToken();
    const gateway = await startGateway({ config: { logging: { level: 'info' } }, ...start(token) });
    try {
      const status = await runCli(gateway.home, ['gateway', 'status']);
      assert.equal(status.code, 0, status.stderr);
      assert.ok(status.stdout.includes(`Token: ${maskToken(token)}`) && maskToken(token) !== '(none)', status.stdout);

      const printed = await runCli(gateway.home, ['gateway', 'token']);
      assert.equal(printed.code, 0, printed.stderr);
      assert.equal(printed.stdout, `${token}\n`);
      assert.deepEqual(JSON.parse((await runCli(gateway.home, ['gateway', 'token', '--json'])).stdout), { token, source: 'gateway' });

      const cron = await runCli(gateway.home, ['cron', 'list', '--json']);
      assert.equal(cron.code, 0, cron.stdout + cron.stderr);
      assert.deepEqual(JSON.parse(cron.stdout), []);

      assert.deepEqual(filesHolding(gateway.home, token), [], 'the token is in no file (config, log, ...)');
    } finally {
      await gateway.stop();
      removeHome(gateway.home);
    }
  });
}

test('the control channel gives the token without one, and still refuses commands without it', async () => {
  assert.equal(controlRevealsToken('linux'), true);
  assert.equal(controlRevealsToken('win32'), false, 'a named pipe is open to more than its owner by default');
  const gateway = await startGateway();
  try {
    const control = (gateway.lock() as { control?: string }).control!;
    assert.equal(statSync(control).mode & 0o777, 0o600);
    assert.deepEqual(await sendControl(control, { cmd: 'token' }), { ok: true, token: gateway.token });
    assert.deepEqual(await sendControl(control, { cmd: 'stop' } as never), { ok: false, error: 'wrong token' });
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});

test('token --new prints a fresh 43-character token and stores nothing', async () => {
  const gateway = await startGateway();
  try {
    const fresh = await runCli(gateway.home, ['gateway', 'token', '--new']);
    assert.equal(fresh.code, 0);
    assert.match(fresh.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    assert.notEqual(fresh.stdout.trim(), gateway.token);
    assert.equal((await runCli(gateway.home, ['gateway', 'token'])).stdout, `${gateway.token}\n`);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});
