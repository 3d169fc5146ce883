/**
 * Gateway overhead on POST /api/agent: the same mock model (mock-llm, real HTTP, streamed
 * answers) called directly and through a real `xopc gateway` process (supervisor + worker,
 * sessions fsync'd on disk). Prints p50/p99 of each and the latency the gateway adds.
 *
 *   npm run bench:agent-overhead [-- <requests=300>]
 */
import { performance } from 'node:perf_hooks';
import { removeHome, startGateway } from '../test/helpers/gateway.js';
import { chatRule, completion, startMockLlm } from '../test/helpers/mock-llm.js';

const REQUESTS = Number(process.argv[2] ?? 300);
const WARMUP = 30;
const MESSAGE = 'What is the weather like today';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function main(): Promise<void> {
  // chunkIntervalMs 0: the model answers as fast as mock-llm can, so what is left is overhead.
  const mock = await startMockLlm({ streaming: { chunkSize: 50, chunkIntervalMs: 0 }, rules: [chatRule('@', 200, completion('{{jmes request body.messages[-1].content}}'))] });
  const gateway = await startGateway({
    config: {
      agents: { defaults: { model: 'mock/bench', maxRetries: 0 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'bench' } },
      logging: { level: 'warn' },
    },
  });
  try {
    const direct = async () => {
      // What an OpenAI client does: a streamed chat completion, read to the end.
      const res = await fetch(`${mock.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
        body: JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'system', content: 'You are xopc.' }, { role: 'user', content: MESSAGE }] }),
      });
      await res.text();
      if (!res.ok) throw new Error(`mock answered ${res.status}`);
    };
    let counter = 0;
    const viaGateway = (session: () => string) => async () => {
      const res = await fetch(gateway.url('/api/agent'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.token}` },
        body: JSON.stringify({ message: MESSAGE, session: session() }),
      });
      const body = (await res.json()) as { reply?: string };
      if (res.status !== 200 || body.reply !== MESSAGE) throw new Error(`gateway answered ${res.status} ${JSON.stringify(body)}`);
    };
    // A fresh session per request sends the model the same two messages as the direct call;
    // one long session adds the history read (last 40 messages) to every request.
    const freshSession = viaGateway(() => `bench-${counter++}`);
    const sameSession = viaGateway(() => 'bench-history');

    for (let i = 0; i < WARMUP; i++) {
      await direct();
      await freshSession();
      await sameSession();
    }
    const samples = { direct: [] as number[], fresh: [] as number[], same: [] as number[] };
    // Interleaved, so drift in machine load hits all three alike.
    for (let i = 0; i < REQUESTS; i++) {
      samples.direct.push(await timed(direct));
      samples.fresh.push(await timed(freshSession));
      samples.same.push(await timed(sameSession));
    }
    const d = summary(samples.direct);
    const f = summary(samples.fresh);
    const s = summary(samples.same);
    const fmt = (n: number) => n.toFixed(2).padStart(7);
    console.log(`requests per series: ${REQUESTS} (after ${WARMUP} warm-up), sequential, node ${process.version}`);
    console.log(`                                   p50 ms  p99 ms  mean ms`);
    console.log(`direct to mock-llm              ${fmt(d.p50)} ${fmt(d.p99)} ${fmt(d.mean)}`);
    console.log(`gateway, new session each       ${fmt(f.p50)} ${fmt(f.p99)} ${fmt(f.mean)}   added: p50 ${fmt(f.p50 - d.p50)}  p99 ${fmt(f.p99 - d.p99)}`);
    console.log(`gateway, one growing session    ${fmt(s.p50)} ${fmt(s.p99)} ${fmt(s.mean)}   added: p50 ${fmt(s.p50 - d.p50)}  p99 ${fmt(s.p99 - d.p99)}`);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
}

await main();
