/**
 * What the OpenAI-compatible API adds: the same chat completion sent to mock-llm directly
 * and to a real `xopc gateway`'s POST /v1/chat/completions (supervisor + worker, the turn
 * stored and fsync'd), non-streamed (whole answer) and streamed (time to the first content
 * chunk). Prints p50/p99 of each and the difference.
 *
 *   npm run bench:openai-overhead [-- <requests=300>]
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

function summary(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/** Sends one completion; resolves with ms to the first content delta (streamed) and to the end. */
async function completionTimes(url: string, key: string, model: string, stream: boolean, user?: string): Promise<{ first: number; total: number }> {
  const start = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, stream, ...(user ? { user } : {}), messages: [{ role: 'system', content: 'You are xopc.' }, { role: 'user', content: MESSAGE }] }),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  let first = Number.NaN;
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    // The first chunk that carries answer text (the gateway sends the role alone first, as OpenAI does).
    if (Number.isNaN(first) && /"content":"[^"]/.test(text)) first = performance.now() - start;
  }
  const total = performance.now() - start;
  if (!text.includes(stream ? '[DONE]' : MESSAGE)) throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
  return { first, total };
}

async function main(): Promise<void> {
  // chunkIntervalMs 0: the model answers as fast as mock-llm can, so what is left is overhead.
  const mock = await startMockLlm({ streaming: { chunkSize: 10, chunkIntervalMs: 0 }, rules: [chatRule('@', 200, completion('{{jmes request body.messages[-1].content}}'))] });
  const gateway = await startGateway({
    config: {
      agents: { defaults: { model: 'mock/bench', maxRetries: 0 } },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'bench' } },
      logging: { level: 'warn' },
    },
  });
  try {
    const direct = (stream: boolean) => completionTimes(`${mock.baseUrl}/chat/completions`, 'bench', 'bench', stream);
    // Without `user` every request is stored in a new session (created and fsync'd), as the
    // direct call has no history either; with one, the session's history grows.
    const viaGateway = (stream: boolean, user?: string) => completionTimes(gateway.url('/v1/chat/completions'), gateway.token, 'main', stream, user);
    for (let i = 0; i < WARMUP; i++) {
      for (const stream of [false, true]) {
        await direct(stream);
        await viaGateway(stream);
        await viaGateway(stream, 'bench');
      }
    }
    const samples = { direct: [] as number[], gateway: [] as number[], named: [] as number[], directFirst: [] as number[], gatewayFirst: [] as number[] };
    // Interleaved, so drift in machine load hits both alike.
    for (let i = 0; i < REQUESTS; i++) {
      samples.direct.push((await direct(false)).total);
      samples.gateway.push((await viaGateway(false)).total);
      samples.named.push((await viaGateway(false, 'bench')).total);
      samples.directFirst.push((await direct(true)).first);
      samples.gatewayFirst.push((await viaGateway(true)).first);
    }
    const fmt = (n: number) => n.toFixed(1);
    const row = (what: string, mine: number[], reference?: number[]) => {
      const s = summary(mine);
      const r = reference ? summary(reference) : undefined;
      return `| ${what} | ${fmt(s.p50)}${r ? ` (+${fmt(s.p50 - r.p50)})` : ''} | ${fmt(s.p99)}${r ? ` (+${fmt(s.p99 - r.p99)})` : ''} |`;
    };
    console.log(`${REQUESTS} requests per series (after ${WARMUP} warm-up), sequential, interleaved; node ${process.version}\n`);
    console.log('| chat completion | p50 ms | p99 ms |');
    console.log('| --- | --- | --- |');
    console.log(row('direct to mock-llm, whole answer', samples.direct));
    console.log(row('gateway /v1/chat/completions, whole answer, new session each', samples.gateway, samples.direct));
    console.log(row('gateway /v1/chat/completions, whole answer, one session (`user`)', samples.named, samples.direct));
    console.log(row('direct to mock-llm, streamed: first token', samples.directFirst));
    console.log(row('gateway /v1/chat/completions, streamed: first token (new session each)', samples.gatewayFirst, samples.directFirst));
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
}

await main();
