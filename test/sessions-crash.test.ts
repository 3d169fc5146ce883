import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../src/logger.js';
import { parseSessionKey } from '../worker/sessions/session-key.js';
import { createSessionStore } from '../worker/sessions/session-store.js';
import { parseRecord, type SequencedMessage } from '../worker/sessions/session-types.js';
import { removeHome, startGateway, waitUntil } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

const logger = createLogger('worker', 'silent', { write() {} });

/**
 * Reads a session the way a fresh worker would, and checks it is whole: contiguous
 * positions, every user message followed by its reply, every acknowledged message
 * present and in the order it was acknowledged. Returns the user messages.
 */
async function assertSessionWhole(dir: string, key: string, acknowledged: string[], reply: (text: string) => string): Promise<string[]> {
  const store = createSessionStore({ dir, logger });
  const page = await store.readMessages(parseSessionKey(key)!, { limit: 100_000 });
  assert.ok(page, 'the session loads');
  assert.deepEqual(page.messages.map((m) => m.seq), page.messages.map((_, index) => index), 'no gap, no duplicate position');
  assert.equal(page.info.messageCount, page.messages.length);
  for (let i = 0; i < page.messages.length; i += 2) {
    const user: SequencedMessage = page.messages[i]!;
    const assistant: SequencedMessage | undefined = page.messages[i + 1];
    assert.equal(user.role, 'user');
    assert.equal(assistant?.role, 'assistant', `the turn of "${user.content}" is whole`);
    assert.equal(assistant.content, reply(user.content));
  }
  const stored = page.messages.filter((m) => m.role === 'user').map((m) => m.content);
  const positions = acknowledged.map((text) => stored.indexOf(text));
  assert.deepEqual(acknowledged.filter((_, i) => positions[i] === -1), [], 'every acknowledged message is stored');
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, 'in the order they were acknowledged');
  return stored;
}

/** Every line of every session file parses, except the torn ones a kill can leave (at most one per kill). */
function assertFilesParse(dir: string, kills: number): void {
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.jsonl'))) {
    const lines = readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean);
    const torn = lines.filter((line) => !parseRecord(line));
    assert.ok(torn.length <= kills, `${torn.length} unreadable lines in ${name}`);
    assert.ok(torn.every((line) => line.startsWith('{"t":"turn"')), 'an unreadable line is only ever a cut-off turn');
  }
}

// A writer that appends turns to one session as fast as it can and reports each one
// only after appendTurn resolved (the point where the gateway answers the client).
const WRITER = `
const [storeUrl, loggerUrl, dir, run] = process.argv.slice(1);
const { createSessionStore } = await import(storeUrl);
const { createLogger } = await import(loggerUrl);
const store = createSessionStore({ dir, logger: createLogger('worker', 'silent', { write() {} }) });
const parts = { agentId: 'main', channel: 'api', peerId: 'crash' };
const padding = 'p'.repeat(8192);
let count = (await store.readRecent(parts, 1))?.messageCount ?? (await store.ensure(parts), 0);
for (let i = 0; ; i++) {
  const text = 'run' + run + '-' + i;
  await store.appendTurn(parts, count, [{ role: 'user', content: text, ts: Date.now() }, { role: 'assistant', content: 're:' + text + padding, ts: Date.now() }]);
  count += 2;
  process.send(text);
}
`;

test('kill -9 of a process appending to a session loses no acknowledged turn and leaves it loadable', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-crash-store-'));
  const storeUrl = new URL('../worker/sessions/session-store.js', import.meta.url).href;
  const loggerUrl = new URL('../src/logger.js', import.meta.url).href;
  const acknowledged: string[] = [];
  try {
    for (let run = 0; run < 15; run++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, storeUrl, loggerUrl, dir, String(run)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const exited = once(child, 'exit');
      // Killed after a varying number of acknowledged turns, while it is writing the next one.
      const killAfter = 1 + ((run * 7) % 11);
      let acks = 0;
      child.on('message', (text: string) => {
        acknowledged.push(text);
        if (++acks === killAfter) child.kill('SIGKILL');
      });
      const [code, signal] = await exited;
      assert.equal(signal, 'SIGKILL', `writer ${run} ended by itself (code ${code})`);
    }
    assert.ok(acknowledged.length >= 15);
    const stored = await assertSessionWhole(dir, 'main:api:crash', acknowledged, (text) => `re:${text}${'p'.repeat(8192)}`);
    t.diagnostic(`acknowledged ${acknowledged.length}, stored ${stored.length}`);
    assertFilesParse(dir, 15);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 of the gateway worker while a client talks to a session loses no acknowledged message', { timeout: 90_000 }, async (t) => {
  const mock = await startMockLlm({ streaming: { chunkSize: 100, chunkIntervalMs: 1 }, rules: [chatRule('@', 200, completion('echo {{jmes request body.messages[-1].content}}'))] });
  const gateway = await startGateway({
    config: {
      agents: { defaults: { model: 'mock/crash', maxRetries: 0, timeoutMs: 5000 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      logging: { level: 'warn' },
    },
  });
  const acknowledged: string[] = [];
  let failures = 0;
  let stop = false;
  try {
    // The client: one message at a time, next one whatever happened to the last.
    const client = (async () => {
      for (let i = 0; !stop; i++) {
        const text = `msg-${i}`;
        try {
          const res = await fetch(gateway.url('/api/agent'), {
            method: 'POST',
            headers: { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ message: text, session: 'crash' }),
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { reply?: string };
          if (res.status === 200 && body.reply === `echo ${text}`) acknowledged.push(text);
          else failures++;
        } catch {
          failures++;
        }
      }
    })();

    // Four kills: the supervisor gives up at the fifth crash within a minute (SPEC 3).
    for (let kill = 0; kill < 4; kill++) {
      const target = acknowledged.length + 3;
      await waitUntil(() => acknowledged.length >= target, 20_000, `3 more acknowledged messages (have ${acknowledged.length})`);
      const { workerPid } = gateway.lock()!;
      process.kill(workerPid!, 'SIGKILL');
      await gateway.waitForServing({ exceptWorkerPid: workerPid!, timeoutMs: 20_000 });
    }
    const target = acknowledged.length + 3;
    await waitUntil(() => acknowledged.length >= target, 20_000, 'messages acknowledged after the last kill');
    stop = true;
    await client;

    const dir = join(gateway.home, 'sessions');
    const stored = await assertSessionWhole(dir, 'main:api:crash', acknowledged, (text) => `echo ${text}`);
    assertFilesParse(dir, 4);
    // At most the message in flight at each kill can be stored without having been acknowledged.
    assert.ok(stored.length - acknowledged.length <= 4, `stored ${stored.length}, acknowledged ${acknowledged.length}`);
    // And the gateway serves it after all that.
    const res = await fetch(gateway.url('/api/sessions/main:api:crash?limit=1000'), { headers: { authorization: `Bearer ${gateway.token}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as any).session.messageCount, stored.length * 2);
    t.diagnostic(`acknowledged ${acknowledged.length}, stored ${stored.length}, failed ${failures}`);
    assert.ok(failures <= 40, `failed requests: ${failures}`);
  } finally {
    stop = true;
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});
