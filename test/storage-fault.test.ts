import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sessionFileName } from '../worker/sessions/session-key.js';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { removeHome, runCli, tempHome, waitUntil } from './helpers/gateway.js';
import { chatRule, ECHO_RULE, errorContent, startMockLlm } from './helpers/mock-llm.js';

/**
 * An accepted async message whose turn fails for a reason that is not its own (the
 * session file cannot be written, the provider is down) stays pending, is retried with
 * backoff, shows its state in GET /api/message/:id, and is answered once the fault clears.
 */

const config = (baseUrl: string) => ({
  agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
  providers: { mock: { baseUrl, apiKey: 'mock-key' } },
});

async function waitForMessage(app: AgentApp, id: string, done: (message: any) => boolean, what: string): Promise<any> {
  return waitUntil(async () => {
    const res = await app.call('GET', `/api/message/${id}`);
    return res.status === 200 && done(res.json.message) ? res.json.message : null;
    // Retries back off up to 30 s, so a recovery can wait that long for the next try.
  }, 75_000, what);
}

test('a session file that cannot be written keeps the message pending; it is answered once the path is fixed', { timeout: 120_000 }, async () => {
  const mock = await startMockLlm({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
  const app = await startAgentApp(config(mock.baseUrl));
  try {
    // A directory where the session file should be: every open of it for writing fails (EISDIR), for root too.
    const blocked = join(app.home, 'sessions', sessionFileName({ agentId: 'main', channel: 'webchat', peerId: 'blocked' }));
    mkdirSync(blocked, { recursive: true });
    const res = await app.call('POST', '/api/message', { channel: 'webchat', chat_id: 'blocked', content: 'keep me' });
    assert.equal(res.status, 202);
    const id = res.json.message_id;

    const stuck = await waitForMessage(app, id, (m) => m.attempts >= 1, 'a failed try recorded');
    assert.equal(stuck.state, 'pending');
    assert.equal(stuck.lastError.code, 'STORAGE_UNAVAILABLE');
    assert.match(stuck.lastError.message, /EISDIR/);
    assert.deepEqual(readdirSync(join(app.home, 'messages', 'pending')), [`${id}.json`], 'still pending on disk');

    rmSync(blocked, { recursive: true });
    const done = await waitForMessage(app, id, (m) => m.state === 'delivered', 'the message answered after the fault cleared');
    assert.ok(done.attempts >= 1);
    const session = await app.call('GET', '/api/sessions/main:webchat:blocked');
    assert.deepEqual(session.json.session.messages.map((m: { content: string }) => m.content), ['keep me', 'keep me'], 'answered once');
    assert.deepEqual(readdirSync(join(app.home, 'messages', 'pending')), []);
  } finally {
    await app.close();
    await mock.stop();
  }
});

test('a provider outage keeps the message pending; it is answered when the provider is back', { timeout: 120_000 }, async () => {
  const mock = await startMockLlm({ rules: [chatRule('@', 503, errorContent('upstream is down'))] });
  const app = await startAgentApp(config(mock.baseUrl));
  try {
    const res = await app.call('POST', '/api/message', { channel: 'webchat', chat_id: 'outage', content: 'still there?' });
    assert.equal(res.status, 202);
    const id = res.json.message_id;
    const stuck = await waitForMessage(app, id, (m) => m.attempts >= 1, 'a failed try recorded');
    assert.equal(stuck.state, 'pending');
    assert.equal(stuck.lastError.code, 'AGENT_ERROR');

    await mock.setConfig({ streaming: { chunkSize: 2000, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
    await waitForMessage(app, id, (m) => m.state === 'delivered', 'the message answered once the provider is back');
    const session = await app.call('GET', '/api/sessions/main:webchat:outage');
    assert.deepEqual(session.json.session.messages.map((m: { content: string }) => m.content), ['still there?', 'still there?']);
  } finally {
    await app.close();
    await mock.stop();
  }
});

test('a read-only state dir at start: one line naming the dir, exit 1', { timeout: 30_000 }, async () => {
  const home = tempHome('xopc-readonly-');
  const root = process.getuid?.() === 0;
  // Root writes through file modes: a read-only bind mount is what stops it.
  if (root) {
    execFileSync('mount', ['--bind', home, home]);
    execFileSync('mount', ['-o', 'remount,bind,ro', home]);
  } else {
    chmodSync(home, 0o500);
  }
  try {
    const { code, stdout, stderr } = await runCli(home, ['gateway', '--port', '0', '--host', '127.0.0.1']);
    assert.equal(code, 1);
    const lines = `${stdout}${stderr}`.trim().split('\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`Cannot write the state dir ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (EROFS|EACCES)`));
    assert.doesNotMatch(lines[0]!, /Unexpected error/);
  } finally {
    if (root) execFileSync('umount', [home]);
    else chmodSync(home, 0o700);
    removeHome(home);
  }
});
