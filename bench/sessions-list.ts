/**
 * Listing 10,000 sessions: GET /api/sessions pages (first, deep, filtered) and the
 * store call behind them. Only the page's files are opened; the rest are stat'ed.
 *
 *   npm run bench:sessions-list [-- <sessions=10000>]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sessionFileName, type SessionKeyParts } from '../worker/sessions/session-key.js';
import { startAgentApp } from '../test/helpers/agent-app.js';

const SESSIONS = Number(process.argv[2] ?? 10_000);
const RUNS = 15;
const CHANNELS = ['telegram', 'webchat', 'api', 'webhook'];

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(run: () => Promise<unknown>): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

async function main(): Promise<void> {
  const app = await startAgentApp();
  const dir = join(app.home, 'sessions');
  await app.features.services.store.list({ limit: 1, offset: 0 });
  // Each session: a header and a few turns, written directly in the store's format.
  for (let i = 0; i < SESSIONS; i++) {
    const parts: SessionKeyParts = { agentId: i % 10 === 0 ? 'helper' : 'main', channel: CHANNELS[i % CHANNELS.length]!, peerId: `peer-${i}` };
    const key = `${parts.agentId}:${parts.channel}:${parts.peerId}`;
    const turns = [0, 2, 4].map((seq) => JSON.stringify({ t: 'turn', seq, ts: i, messages: [{ role: 'user', content: `hello ${i}`, ts: i }, { role: 'assistant', content: `hi ${i}`, ts: i }] }));
    writeFileSync(join(dir, sessionFileName(parts)), `${JSON.stringify({ t: 'session', v: 1, key, ...parts, createdAt: i })}\n${turns.join('\n')}\n`, { mode: 0o600 });
  }

  const call = (query: string) => async () => {
    const res = await fetch(`${app.url}/api/sessions?${query}`, { headers: { authorization: 'Bearer agent-test-token-0123456789' } });
    const body = (await res.json()) as { total: number };
    if (res.status !== 200 || body.total === 0) throw new Error(`${query}: ${res.status}`);
  };
  const rows: Array<[string, number]> = [
    ['GET /api/sessions                    (first 50)', await measure(call(''))],
    ['GET /api/sessions?limit=500', await measure(call('limit=500'))],
    ['GET /api/sessions?offset=9000', await measure(call('offset=9000'))],
    ['GET /api/sessions?channel=telegram   (2,500 match)', await measure(call('channel=telegram'))],
    ['GET /api/sessions?agentId=helper&channel=api', await measure(call('agentId=helper&channel=api'))],
    ['store.list({limit: 50})', await measure(() => app.features.services.store.list({ limit: 50, offset: 0 }))],
  ];
  console.log(`${SESSIONS} sessions (3 turns each); median of ${RUNS} runs, node ${process.version}`);
  for (const [what, ms] of rows) console.log(`${what.padEnd(52)} ${ms.toFixed(2).padStart(8)} ms`);
  await app.close();
}

await main();
