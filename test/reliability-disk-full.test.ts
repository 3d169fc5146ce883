import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRecord } from '../worker/sessions/session-types.js';
import { removeHome, startGateway, tempHome, waitUntil } from './helpers/gateway.js';
import { chatRule, completion, startMockLlm } from './helpers/mock-llm.js';

/**
 * The state dir on a small tmpfs that the test fills up and frees again, several times,
 * while clients write: async POST /api/message and sync POST /api/agent. While full,
 * writes answer 503 STORAGE_UNAVAILABLE (never 500) and GET /health says degraded with
 * the reason; a turn being written when space runs out is rolled back (no torn line);
 * no temp file is left; once space returns the gateway resumes by itself and every
 * accepted message is answered, once. Counted: accepted, lost, doubled.
 *
 * Needs root (mount); skipped with a line otherwise. XOPC_RELIABILITY=long: 10 rounds.
 */

const LONG = process.env.XOPC_RELIABILITY === 'long';
const ROUNDS = LONG ? 10 : 2;
const root = process.getuid?.() === 0;

/** Writes a filler file until the file system refuses: the disk is full. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 120);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

test(`disk full ${ROUNDS} times under load: 503 STORAGE_UNAVAILABLE, degraded health, no torn line, nothing lost or doubled`, { skip: root ? false : 'needs root to mount a small tmpfs as the state dir', timeout: LONG ? 15 * 60_000 : 180_000 }, async (t) => {
  const mock = await startMockLlm({ streaming: { chunkSize: 500, chunkIntervalMs: 5 }, rules: [chatRule('@', 200, completion(`echo {{jmes request body.messages[-1].content}} ${'z'.repeat(3000)}`))] });
  const home = tempHome('xopc-disk-full-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', home]);
  const filler = join(home, 'filler');
  const gateway = await startGateway({
    home,
    config: {
      gateway: { maxPendingMessages: 1000 },
      agents: { defaults: { model: 'mock/disk', maxRetries: 0, timeoutMs: 30_000, contextMessages: 2 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      logging: { level: 'warn' },
    },
  });
  const headers = { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' };
  const statuses = new Map<string, number>();
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const asyncAccepted = new Map<string, string[]>();
  const syncAcked = new Map<string, string[]>();
  let stop = false;
  let serial = 0;
  let degradedSeen = 0;
  try {
    const client = async (chatId: string, async: boolean) => {
      const acked: string[] = [];
      (async ? asyncAccepted : syncAcked).set(chatId, acked);
      while (!stop) {
        const content = `${chatId}-${serial++}`;
        try {
          const res = async
            ? await fetch(gateway.url('/api/message'), { method: 'POST', headers, body: JSON.stringify({ channel: 'webchat', chat_id: chatId, content }), signal: AbortSignal.timeout(15_000) })
            : await fetch(gateway.url('/api/agent'), { method: 'POST', headers, body: JSON.stringify({ session: chatId, message: content }), signal: AbortSignal.timeout(15_000) });
          const body = (await res.json()) as { error?: { code: string } };
          count(`${res.status} ${body.error?.code ?? ''}`.trim());
          if (res.status === 503) assert.ok(res.headers.get('retry-after'), 'a 503 says when to retry');
          if (res.status === (async ? 202 : 200)) acked.push(content);
        } catch {
          count('request failed');
        }
        await sleep(async ? 30 : 10);
      }
    };
    const loops = [client('full-a0', true), client('full-a1', true), client('full-s0', false), client('full-s1', false)];

    for (let round = 0; round < ROUNDS; round++) {
      await sleep(400);
      fill(filler);
      // Full: health says so (the first storage fault a request meets reports it).
      await waitUntil(async () => {
        const health = (await (await fetch(gateway.url('/health'))).json()) as { status: string; reason?: string };
        if (health.status !== 'degraded') return false;
        assert.match(health.reason!, /ENOSPC/);
        return true;
      }, 20_000, 'GET /health to say degraded');
      // Readiness says so too, naming the storage check, so a load balancer sends traffic elsewhere.
      const readyz = await fetch(gateway.url('/readyz'));
      const ready = (await readyz.json()) as { checks: Record<string, string> };
      if (readyz.status === 503) assert.match(ready.checks.storage ?? '', /ENOSPC|cannot write/);
      else assert.equal(((await (await fetch(gateway.url('/health'))).json()) as { status: string }).status, 'healthy', 'ready while degraded');
      degradedSeen++;
      await sleep(800);
      rmSync(filler);
      await waitUntil(async () => ((await (await fetch(gateway.url('/health'))).json()) as { status: string }).status === 'healthy', 20_000, 'GET /health to be healthy again');
    }
    await sleep(400);
    stop = true;
    await Promise.all(loops);

    // Every accepted async message is answered by itself once space is back.
    const pendingDir = join(home, 'messages', 'pending');
    await waitUntil(() => readdirSync(pendingDir).length === 0, 90_000, 'every accepted message to be answered');
    let lost = 0;
    let doubled = 0;
    for (const [chatId, acked] of [...asyncAccepted, ...syncAcked]) {
      const key = asyncAccepted.has(chatId) ? `main:webchat:${chatId}` : `main:api:${chatId}`;
      const res = await fetch(gateway.url(`/api/sessions/${key}?limit=1000`), { headers });
      const session = ((await res.json()) as { session: { messages: Array<{ role: string; content: string }>; skippedRecords: number } }).session;
      assert.equal(session.skippedRecords, 0, `${key}: no torn or unreadable line`);
      const asked = session.messages.filter((m) => m.role === 'user').map((m) => m.content);
      lost += acked.filter((content) => !asked.includes(content)).length;
      doubled += asked.length - new Set(asked).size;
    }
    // No line torn by a short write, no temp file left behind.
    const sessionsDir = join(home, 'sessions');
    for (const name of readdirSync(sessionsDir)) {
      assert.doesNotMatch(name, /\.tmp$/, `temp file left: ${name}`);
      const lines = readFileSync(join(sessionsDir, name), 'utf8').split('\n').filter(Boolean);
      assert.deepEqual(lines.filter((line) => !parseRecord(line)), [], `${name}: every line a record`);
    }
    for (const dir of [pendingDir, join(home, 'messages', 'settled')]) {
      assert.deepEqual(readdirSync(dir).filter((name) => name.endsWith('.tmp') || statSync(join(dir, name)).size === 0), [], `${dir}: no temp or empty file`);
    }
    const accepted = [...asyncAccepted.values()].reduce((n, list) => n + list.length, 0);
    const acked = [...syncAcked.values()].reduce((n, list) => n + list.length, 0);
    t.diagnostic(`${ROUNDS} rounds of a full disk (degraded seen ${degradedSeen} times): async accepted ${accepted}, sync acknowledged ${acked}, lost ${lost}, doubled ${doubled}; answers ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.equal(lost, 0, 'acknowledged but not stored');
    assert.equal(doubled, 0, 'stored twice');
    assert.ok((statuses.get('503 STORAGE_UNAVAILABLE') ?? 0) > 0, 'writes while full answered STORAGE_UNAVAILABLE');
    assert.equal([...statuses.keys()].filter((key) => key.startsWith('500')).length, 0, 'never a 500');
  } finally {
    stop = true;
    await gateway.stop();
    execFileSync('umount', [home]);
    removeHome(home);
    await mock.stop();
  }
});
