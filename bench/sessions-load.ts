/**
 * Loading a 10,000-message session: the agent's context read (latest 40 messages),
 * GET /api/sessions/:key's default page (latest 100), a page deep in the history, and
 * the whole session, from the store and over HTTP. Also the cost of one durable turn.
 *
 *   npm run bench:sessions-load [-- <messages=10000> <appends=500>]
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../src/logger.js';
import { parseSessionKey, sessionFileName } from '../worker/sessions/session-key.js';
import { createSessionStore } from '../worker/sessions/session-store.js';
import type { StoredMessage, TurnRecord } from '../worker/sessions/session-types.js';
import { startAgentApp } from '../test/helpers/agent-app.js';

const MESSAGES = Number(process.argv[2] ?? 10_000);
const RUNS = 30;
const APPENDS = Number(process.argv[3] ?? 500);
const KEY = 'main:api:long';
// A typical chat line, ~200 characters.
const TEXT = 'Sure - here is what I found about that. '.repeat(5);

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(runs: number, run: () => Promise<unknown>): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

async function main(): Promise<void> {
  const logger = createLogger('worker', 'silent', { write() {} });
  const parts = parseSessionKey(KEY)!;
  const app = await startAgentApp();
  const dir = join(app.home, 'sessions');
  const store = createSessionStore({ dir, logger });
  await store.ensure(parts);
  // Written in one go in the store's own format (appending 5,000 fsync'd turns would only time the disk).
  const lines: string[] = [];
  for (let seq = 0; seq < MESSAGES; seq += 2) {
    const messages: StoredMessage[] = [{ role: 'user', content: `${seq}: ${TEXT}`, ts: seq }, { role: 'assistant', content: `${seq + 1}: ${TEXT}`, ts: seq + 1, provider: 'openai', model: 'gpt-4o-mini', api: 'openai-responses', usage: { input: 120, output: 60 } }];
    lines.push(JSON.stringify({ t: 'turn', seq, ts: seq, messages } satisfies TurnRecord));
  }
  const file = join(dir, sessionFileName(parts));
  writeFileSync(file, `${JSON.stringify({ t: 'session', v: 1, key: KEY, ...parts, createdAt: 0 })}\n${lines.join('\n')}\n`);
  const size = statSync(file).size;

  const call = (path: string) => async () => {
    const res = await fetch(`${app.url}${path}`, { headers: { authorization: 'Bearer agent-test-token-0123456789' } });
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    await res.arrayBuffer();
  };
  const rows: Array<[string, number]> = [
    ['store.readRecent(40)      agent context', await measure(RUNS, () => store.readRecent(parts, 40))],
    ['store.info                listing entry', await measure(RUNS, () => store.info(parts))],
    ['store.readMessages(100)   latest page', await measure(RUNS, () => store.readMessages(parts, { limit: 100 }))],
    ['store.readMessages(100, before=200)  deep page', await measure(RUNS, () => store.readMessages(parts, { limit: 100, before: 200 }))],
    [`store.readMessages(${MESSAGES})  whole session`, await measure(10, () => store.readMessages(parts, { limit: MESSAGES }))],
    ['GET /api/sessions/:key    latest 100', await measure(RUNS, call(`/api/sessions/${KEY}`))],
    ['GET /api/sessions/:key?limit=1000', await measure(RUNS, call(`/api/sessions/${KEY}?limit=1000`))],
  ];
  // Appends to the 10,000-message session: the distribution, not just the median (fsync times have a long tail).
  let seq = MESSAGES;
  const append = () => store.appendTurn(parts, (seq += 2) - 2, [{ role: 'user', content: TEXT, ts: 1 }, { role: 'assistant', content: TEXT, ts: 2 }]);
  await append();
  const appends: number[] = [];
  for (let i = 0; i < APPENDS; i++) {
    const start = performance.now();
    await append();
    appends.push(performance.now() - start);
  }
  appends.sort((a, b) => a - b);
  const at = (p: number) => appends[Math.min(appends.length - 1, Math.ceil((p / 100) * appends.length) - 1)]!;

  console.log(`session: ${MESSAGES} messages, ${(size / 1024 / 1024).toFixed(1)} MB on disk; median of ${RUNS} runs (10 for the whole session), node ${process.version}`);
  for (const [what, ms] of rows) console.log(`${what.padEnd(52)} ${ms.toFixed(2).padStart(8)} ms`);
  console.log(`${'store.appendTurn, one durable turn (fdatasync)'.padEnd(52)} p50 ${at(50).toFixed(2)} ms, p95 ${at(95).toFixed(2)} ms, p99 ${at(99).toFixed(2)} ms, max ${appends[appends.length - 1]!.toFixed(2)} ms (${APPENDS} appends)`);
  await app.close();
}

await main();
