import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildServiceSpec } from '../src/service/spec.js';
import { renderSystemdUnit, SYSTEMD_UNIT_NAME } from '../src/service/systemd-unit.js';
import { CLI, removeHome, runCli, startGateway, tempHome } from './helpers/gateway.js';
import { startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { foreignListener, freePort } from './helpers/net.js';
import { needsPackage } from './helpers/system-package.js';
import { BOT_TOKEN, startTelegramEmulator, type TelegramEmulator } from './helpers/telegram.js';

const TOKEN = 'Zq3-xV9_pL2mK8rT5wY1uB7nC4hD6jF0sG2aE9';
const PROVIDER_KEY = 'sk-doctor-right-key-0123456789';

interface Check {
  id: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  message: string;
  fix?: string;
  fixed?: string;
}

interface Doctor {
  code: number | null;
  ok: boolean;
  checks: Map<string, Check>;
  stdout: string;
}

/** `xopc doctor --json` with HOME inside the temp home, so the real user's service files are never read. */
async function doctor(home: string, args: string[] = []): Promise<Doctor> {
  const run = await runCli(home, ['doctor', '--json', ...args], { env: { HOME: home, XDG_CONFIG_HOME: '' } });
  const parsed = JSON.parse(run.stdout) as { ok: boolean; checks: Check[] };
  return { code: run.code, ok: parsed.ok, checks: new Map(parsed.checks.map((check) => [check.id, check])), stdout: run.stdout };
}

function check(result: Doctor, id: string): Check {
  const found = result.checks.get(id);
  assert.ok(found, `no check ${id} in\n${result.stdout}`);
  return found;
}

function writeConfig(home: string, config: Record<string, unknown>): void {
  writeFileSync(join(home, 'config.json'), JSON.stringify(config, null, 2), { mode: 0o600 });
}

/** A mock-llm that lists models for the right key and answers 401 to any other. */
async function modelServer(): Promise<MockLlm> {
  return startMockLlm({
    rules: [
      { path: '/v1/models', method: 'GET', response: { status: 401, content: JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }) } },
      { path: '/v1/models', method: 'GET', match: `headers.authorization == 'Bearer ${PROVIDER_KEY}'`, response: { status: 200, content: JSON.stringify({ object: 'list', data: [{ id: 'test-model', object: 'model' }] }) } },
    ],
  });
}

describe('xopc doctor against real peers', () => {
  let mock: MockLlm;
  let telegram: TelegramEmulator;
  let receiver: http.Server;
  let receiverUrl: string;

  before(async () => {
    mock = await modelServer();
    telegram = await startTelegramEmulator({ longPolling: true });
    receiver = http.createServer((_req, res) => res.writeHead(405).end()).listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    await mock?.stop();
    await telegram?.stop();
    receiver?.close();
  });

  async function setUp(overrides: { apiKey?: string; baseUrl?: string; replyUrl?: string; botToken?: string; port?: number } = {}) {
    const home = tempHome('xopc-doctor-');
    writeConfig(home, {
      gateway: { host: '127.0.0.1', port: overrides.port ?? (await freePort()), auth: { token: TOKEN } },
      agents: { defaults: { model: 'mock/test-model' } },
      providers: { mock: { baseUrl: overrides.baseUrl ?? mock.baseUrl, apiKey: overrides.apiKey ?? PROVIDER_KEY } },
      channels: {
        telegram: { enabled: true, token: overrides.botToken ?? BOT_TOKEN, apiRoot: telegram.apiRoot },
        webhook: { enabled: true, secret: 'webhook-secret-0123456789', replyUrl: overrides.replyUrl ?? receiverUrl },
      },
    });
    return home;
  }

  test('a sound set-up: every check passes or only warns, exit 0', async (t) => {
    const home = await setUp();
    t.after(() => removeHome(home));
    const result = await doctor(home);
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.ok, true);
    assert.deepEqual([...result.checks.values()].filter((c) => c.status === 'fail'), []);
    for (const id of ['node.version', 'config.valid', 'permissions.state-dir', 'permissions.config', 'permissions.logs', 'token.strength', 'gateway.port', 'gateway.lock', 'provider.mock', 'telegram.token', 'telegram.webhook', 'webhook.reply-url', 'disk.free', 'logs.size']) {
      assert.equal(check(result, id).status, 'ok', `${id}: ${check(result, id).message}`);
    }
    assert.match(check(result, 'provider.mock').message, /accepts the key \(1 models\)/);
    assert.match(check(result, 'telegram.token').message, /^bot @TestNameBot/);
    assert.match(check(result, 'webhook.reply-url').message, /HTTP 405/);
    assert.equal(check(result, 'service.installed').status, 'warn');
  });

  test('a wrong provider key, a refused bot token and a webhook blocking polling fail or warn, exit 1', async (t) => {
    const home = await setUp({ apiKey: 'sk-wrong-key-0123456789', botToken: '999:not-this-bot' });
    t.after(() => removeHome(home));
    const result = await doctor(home);
    assert.equal(result.code, 1);
    assert.equal(check(result, 'provider.mock').status, 'fail');
    assert.match(check(result, 'provider.mock').message, /refused the API key \(HTTP 401\)/);
    assert.equal(check(result, 'telegram.token').status, 'fail');
    assert.match(check(result, 'telegram.token').message, /refused the bot token \(HTTP 401/);

    telegram.server.setWebhook({ url: 'https://elsewhere.example/hook' }, BOT_TOKEN);
    t.after(() => telegram.server.deleteWebhook(BOT_TOKEN));
    const blocked = await doctor(await setUp());
    assert.equal(check(blocked, 'telegram.token').status, 'ok');
    assert.equal(check(blocked, 'telegram.webhook').status, 'warn');
    assert.match(check(blocked, 'telegram.webhook').message, /elsewhere\.example.*blocks polling/);
  });

  test('a stopped port: the provider and the reply URL are unreachable', async (t) => {
    const stopped = await freePort();
    const home = await setUp({ baseUrl: `http://127.0.0.1:${stopped}/v1`, replyUrl: `http://127.0.0.1:${stopped}/hook` });
    t.after(() => removeHome(home));
    const result = await doctor(home);
    assert.equal(result.code, 1);
    assert.equal(check(result, 'provider.mock').status, 'fail');
    assert.match(check(result, 'provider.mock').message, /unreachable: ECONNREFUSED/);
    assert.equal(check(result, 'webhook.reply-url').status, 'fail');
    assert.match(check(result, 'webhook.reply-url').message, /does not answer: ECONNREFUSED/);
  });
});

describe('xopc doctor on the local set-up', () => {
  test('the port: held by another program fails with its pid, held by this gateway passes', async (t) => {
    const home = tempHome('xopc-doctor-');
    t.after(() => removeHome(home));
    const port = await freePort();
    writeConfig(home, { gateway: { host: '127.0.0.1', port, auth: { token: TOKEN } }, agents: { list: [] } });
    const foreign = await foreignListener(port);
    let result: Doctor;
    try {
      result = await doctor(home);
    } finally {
      foreign.kill('SIGKILL');
      await once(foreign, 'exit');
    }
    assert.equal(check(result, 'gateway.port').status, 'fail');
    assert.match(check(result, 'gateway.port').message, new RegExp(`in use by pid ${foreign.pid}`));

    const gateway = await startGateway({ home, args: [] });
    t.after(() => gateway.stop());
    const running = await doctor(home);
    assert.equal(check(running, 'gateway.port').status, 'ok');
    assert.match(check(running, 'gateway.port').message, new RegExp(`held by this gateway \\(pid ${gateway.pid}\\)`));
    assert.match(check(running, 'gateway.lock').message, /answers \/health/);
    assert.equal(running.code, 0, running.stdout);
  });

  test('loose permissions fail; --fix tightens them; a stale lock is removed by --fix', async (t) => {
    const home = tempHome('xopc-doctor-');
    t.after(() => removeHome(home));
    writeConfig(home, { gateway: { port: 0, auth: { token: TOKEN } }, agents: { list: [] } });
    mkdirSync(join(home, 'logs'));
    writeFileSync(join(home, 'logs', 'gateway.log'), '{}\n');
    chmodSync(home, 0o755);
    chmodSync(join(home, 'config.json'), 0o644);
    chmodSync(join(home, 'logs', 'gateway.log'), 0o644);
    mkdirSync(join(home, 'locks'));
    // A lock whose owner is long gone.
    const { lockPath } = await import('../src/paths.js');
    const lock = lockPath(join(home, 'config.json'), { XOPC_HOME: home });
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 7, createdAt: new Date().toISOString(), configPath: join(home, 'config.json'), startTime: null }));

    const before = await doctor(home);
    assert.equal(before.code, 1);
    for (const id of ['permissions.state-dir', 'permissions.config', 'permissions.logs']) assert.equal(check(before, id).status, 'fail', id);
    assert.equal(check(before, 'gateway.lock').status, 'warn');

    const fixed = await doctor(home, ['--fix']);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.equal(check(fixed, 'permissions.config').fixed, `chmod 0600 ${join(home, 'config.json')}`);
    assert.match(check(fixed, 'gateway.lock').fixed!, /removed/);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    assert.equal(statSync(join(home, 'config.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, 'logs', 'gateway.log')).mode & 0o777, 0o600);

    const after = await doctor(home);
    assert.equal(after.code, 0);
    assert.equal(check(after, 'gateway.lock').message, 'no gateway running for this config');
  });

  test('a weak token and an invalid config fail', async (t) => {
    const home = tempHome('xopc-doctor-');
    t.after(() => removeHome(home));
    writeConfig(home, { gateway: { port: 0, auth: { token: 'aaaaaaaaaaaaaaaaaaaa' } }, agents: { list: [] } });
    const weak = await doctor(home);
    assert.equal(check(weak, 'token.strength').status, 'fail');
    assert.equal(weak.code, 1);

    writeConfig(home, { gateway: { port: 'not a port' } });
    const invalid = await doctor(home);
    assert.equal(invalid.code, 1);
    assert.equal(check(invalid, 'config.valid').status, 'fail');
    assert.match(check(invalid, 'config.valid').message, /gateway\.port/);
    assert.equal(check(invalid, 'token.strength').status, 'skip');
  });

  test('the installed systemd unit is checked with systemd-analyze verify', { skip: process.platform !== 'linux' ? 'systemd is Linux only' : needsPackage('systemd-analyze', 'systemd') }, async (t) => {
    const home = tempHome('xopc-doctor-');
    t.after(() => removeHome(home));
    writeConfig(home, { gateway: { port: 0, auth: { token: TOKEN } }, agents: { list: [] } });
    const unitDir = join(home, '.config', 'systemd', 'user');
    mkdirSync(unitDir, { recursive: true });
    const { spec } = buildServiceSpec({
      runtime: 'node',
      port: 18790,
      configPath: join(home, 'config.json'),
      effectiveHost: '0.0.0.0',
      drainTimeoutMs: 5000,
      home,
      logDir: join(home, 'logs'),
      env: { XOPC_HOME: home },
      cliPath: CLI,
    });
    const unitPath = join(unitDir, SYSTEMD_UNIT_NAME);
    writeFileSync(unitPath, renderSystemdUnit(spec));
    const good = await doctor(home);
    assert.equal(check(good, 'service.installed').status, 'ok');
    assert.equal(check(good, 'service.unit').status, 'ok', check(good, 'service.unit').message);
    assert.ok(good.checks.has('service.linger'));

    writeFileSync(unitPath, renderSystemdUnit(spec).replace('KillMode=mixed', 'KillMode=bogus'));
    const broken = await doctor(home);
    assert.equal(check(broken, 'service.unit').status, 'fail');
    assert.match(check(broken, 'service.unit').message, /KillMode|kill mode/i);
    assert.equal(broken.code, 1);
  });
});
