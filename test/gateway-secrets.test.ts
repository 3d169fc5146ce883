import assert from 'node:assert/strict';
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeHome, startGateway, tempHome, waitUntil } from './helpers/gateway.js';

const TOKEN = 'secret-flag-token-0123456789abcdef';
const PROVIDER_KEY = 'sk-provider-key-that-must-stay-private';

/** What every local user can read about a process: its command line (and we check its environment too). */
function procText(pid: number, file: 'cmdline' | 'environ'): string {
  return readFileSync(`/proc/${pid}/${file}`, 'utf8').replaceAll('\0', ' ');
}

function lockText(home: string): string {
  const dir = join(home, 'locks');
  return readdirSync(dir).filter((name) => name.endsWith('.lock')).map((name) => readFileSync(join(dir, name), 'utf8')).join('\n');
}

async function apiStatus(port: number, token: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/sessions`, { headers: { authorization: `Bearer ${token}` } });
  await res.body?.cancel();
  return res.status;
}

test('the worker gets the config and its secrets over IPC: its environment holds neither', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const gateway = await startGateway({
    config: { gateway: { auth: { token: TOKEN } }, providers: { mock: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: PROVIDER_KEY } } },
    env: { XOPC_GATEWAY_TOKEN: TOKEN },
  });
  try {
    const { workerPid } = gateway.lock()!;
    const environ = procText(workerPid!, 'environ');
    assert.ok(!environ.includes(PROVIDER_KEY), 'the provider key is not in the worker environment');
    assert.ok(!environ.includes(TOKEN), 'the gateway token is not in the worker environment');
    assert.equal(await apiStatus(gateway.port, TOKEN), 200, 'and the worker still knows the token');
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});

test('--token stays out of the lock file, and a respawn restart keeps it without putting it on a command line', { skip: process.platform !== 'linux' && 'reads /proc', timeout: 60_000 }, async () => {
  const gateway = await startGateway({
    config: {},
    args: ['--port', '0', '--host', '127.0.0.1', '--token', TOKEN],
    env: { XOPC_ALLOW_SIGUSR1_RESTART: '1' },
  });
  try {
    assert.equal(gateway.token, TOKEN);
    assert.ok(!lockText(gateway.home).includes(TOKEN), 'the lock file does not hold the token');
    assert.equal(await apiStatus(gateway.port, TOKEN), 200);

    const before = gateway.lock()!;
    process.kill(before.pid, 'SIGUSR1');
    const after = await gateway.waitForServing({ exceptPid: before.pid, timeoutMs: 20_000 });
    assert.notEqual(after.pid, before.pid, 'a new supervisor serves');
    assert.ok(!procText(after.pid, 'cmdline').includes(TOKEN), 'the respawned supervisor has no token on its command line');
    assert.match(procText(after.pid, 'cmdline'), /gateway --port 0 --host 127\.0\.0\.1/);
    assert.ok(!procText(after.workerPid!, 'environ').includes(TOKEN));
    assert.ok(!lockText(gateway.home).includes(TOKEN), 'nor does the new lock');
    assert.equal(await apiStatus(gateway.port, TOKEN), 200, 'the flag token still authenticates after the respawn');
    const config = JSON.parse(readFileSync(gateway.configPath, 'utf8')) as { gateway?: { auth?: { token?: string } } };
    assert.equal(config.gateway?.auth?.token, undefined, 'no token was generated into the config by the new supervisor');
    assert.equal(await apiStatus(gateway.port, 'some-other-token-0123456789'), 401);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
  }
});

test('a config readable by others and an open state dir are tightened at start, with a warning each', { skip: process.platform === 'win32' && 'POSIX modes' }, async () => {
  const home = tempHome();
  const configPath = join(home, 'config.json');
  writeFileSync(configPath, JSON.stringify({ gateway: { auth: { token: TOKEN } } }));
  chmodSync(configPath, 0o644);
  chmodSync(home, 0o755);
  const gateway = await startGateway({ home });
  try {
    assert.equal(statSync(configPath).mode & 0o777, 0o600);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    await waitUntil(() => /config was open to other users \(0644\); changed it to 0600/.test(gateway.output()), 5000, 'the config warning');
    assert.match(gateway.output(), /state dir was open to other users \(0755\); changed it to 0700/);
  } finally {
    await gateway.stop();
    removeHome(home);
  }
});
