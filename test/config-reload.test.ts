/**
 * Config hot reload: the supervisor watches its config file. A valid edit is applied by the
 * zero-downtime worker swap; an edit of what the supervisor itself holds (host, port) is
 * logged as needing a full stop and start; an invalid edit changes nothing and says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, removeHome, startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';
import { freePort } from './helpers/net.js';

// Longer than two polls of the file (one a second): an edit the gateway would act on has been seen.
const SEEN_MS = 2500;

interface Status {
  workerPid: number;
  /** Names of the enabled channels. */
  channels: string[];
  agents: Array<{ id: string; enabled: boolean }>;
}

async function status(gw: Gateway): Promise<Status> {
  const res = await fetch(gw.url('/api/status'), { headers: { authorization: `Bearer ${gw.token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as Status;
}

function editConfig(gw: Gateway, edit: (config: Record<string, any>) => void): void {
  const config = JSON.parse(readFileSync(gw.configPath, 'utf8'));
  edit(config);
  writeFileSync(gw.configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

test('an edit of the config file adds an agent and enables a channel through a worker swap, with 0 failed requests under load', async () => {
  const gw = await startGateway();
  try {
    const before = gw.lock()!;
    let stopLoad: () => void = () => {};
    const load = runLoad({ port: gw.port, clients: 8, keepAlive: true, until: new Promise<void>((resolve) => (stopLoad = resolve)), maxMs: 60_000 });
    await sleep(300);
    editConfig(gw, (config) => {
      config.agents = { ...config.agents, list: [{ id: 'main' }, { id: 'helper', systemPrompt: 'You help.' }] };
      config.channels = { ...config.channels, webhook: { enabled: true, secret: 'a-webhook-secret-for-tests', replyUrl: 'http://127.0.0.1:9/replies' } };
    });
    const applied = await waitUntil(async () => {
      const now = await status(gw);
      return now.agents.some((agent) => agent.id === 'helper') ? now : null;
    }, 20_000, 'the new agent to be served');
    await sleep(500);
    stopLoad();
    const result = await load;

    assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.errors)}`);
    assert.ok(result.ok > 100, `the load ran (${result.ok} requests)`);
    assert.notEqual(applied.workerPid, before.workerPid, 'a new worker applied it');
    assert.equal(gw.lock()!.pid, before.pid, 'the supervisor stayed');
    assert.ok(applied.channels.includes('webhook'), `webhook channel enabled: ${JSON.stringify(applied.channels)}`);
    assert.match(gw.output(), /config changed: replacing the worker to apply it/);
    await waitUntil(() => !alive(before.workerPid), 10_000, 'the old worker to drain and exit');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('an invalid edit changes nothing and names the key; fixing it applies the fix', async () => {
  const gw = await startGateway();
  try {
    const before = gw.lock()!;
    editConfig(gw, (config) => {
      config.gateway.drainTimeoutMs = 'soon';
    });
    await waitUntil(() => /config change refused: .*gateway\.drainTimeoutMs/.test(gw.output()), 10_000, 'the refusal naming the key');
    assert.equal(gw.lock()!.workerPid, before.workerPid, 'the worker was not replaced');
    assert.equal((await fetch(gw.url('/health'))).status, 200);
    assert.ok(alive(before.workerPid));

    editConfig(gw, (config) => {
      config.gateway.drainTimeoutMs = 3000;
    });
    await gw.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: 20_000 });
    assert.equal(count(gw.output(), /config change refused/), 1, 'one line per invalid edit');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('a port change is logged as needing a full stop and start; a rewrite that changes nothing replaces nothing', async () => {
  // Host and port from the file, not flags (a flag wins over the file, and its value cannot change).
  const gw = await startGateway({ config: { gateway: { host: '127.0.0.1', port: await freePort() } }, args: [] });
  try {
    const before = gw.lock()!;
    // The same config, written differently.
    const text = readFileSync(gw.configPath, 'utf8');
    writeFileSync(gw.configPath, JSON.stringify(JSON.parse(text)) + '\n\n', { mode: 0o600 });
    await sleep(SEEN_MS);
    editConfig(gw, (config) => {
      config.gateway.port = gw.port + 1;
    });
    await waitUntil(() => /gateway\.port changed in the config: .*full stop and start/.test(gw.output()), 10_000, 'the full-restart warning');
    editConfig(gw, (config) => {
      config.gateway.maxPendingMessages = 32;
    });
    await gw.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: 20_000 });
    assert.equal(count(gw.output(), /config changed: replacing the worker/), 1, 'only the real change replaced the worker');
    assert.equal((await fetch(gw.url('/health'))).status, 200, 'still on the port it bound');
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('after a respawn restart the new supervisor applies config edits', async () => {
  const gw = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1' } });
  try {
    const before = gw.lock()!;
    process.kill(before.pid, 'SIGUSR1');
    const respawned = await gw.waitForServing({ exceptPid: before.pid, timeoutMs: 20_000 });
    editConfig(gw, (config) => {
      config.agents = { ...config.agents, list: [{ id: 'main' }, { id: 'late' }] };
    });
    const after = await gw.waitForServing({ pid: respawned.pid, exceptWorkerPid: respawned.workerPid!, timeoutMs: 20_000 });
    assert.equal(after.pid, respawned.pid, 'the same (new) supervisor');
    assert.ok((await status(gw)).agents.some((agent) => agent.id === 'late'));
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});

test('an edit that drops the token keeps the running one and writes nothing; a removed file changes nothing', async () => {
  const gw = await startGateway();
  try {
    const before = gw.lock()!;
    editConfig(gw, (config) => {
      delete config.gateway.auth;
      config.gateway.maxPendingMessages = 16;
    });
    const written = readFileSync(gw.configPath, 'utf8');
    const after = await gw.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: 20_000 });
    assert.equal(readFileSync(gw.configPath, 'utf8'), written, 'the gateway wrote nothing into the file');
    const res = await fetch(gw.url('/api/status'), { headers: { authorization: `Bearer ${gw.token}` } });
    assert.equal(res.status, 200, 'the running token still opens the API');

    rmSync(gw.configPath);
    await waitUntil(() => /config change refused: the config file .* is gone/.test(gw.output()), 10_000, 'the refusal');
    assert.equal(gw.lock()!.workerPid, after.workerPid);
  } finally {
    await gw.stop();
    removeHome(gw.home);
  }
});
