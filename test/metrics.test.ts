import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { alive, startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { chatRule, startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { freePort } from './helpers/net.js';
import { needsPackage } from './helpers/system-package.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const TOKEN = 'metrics-test-token-0123456789abcdef';

// One streamed chunk with the reply and the token usage, as an OpenAI-compatible server
// sends it last (mock-llm writes a rule's JSON verbatim as one event when its status is >= 400).
const USAGE_CHUNK = JSON.stringify({
  id: 'chatcmpl-usage',
  object: 'chat.completion.chunk',
  created: 0,
  model: 'mock',
  choices: [{ index: 0, delta: { role: 'assistant', content: 'It is sunny.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 },
});

function get(gateway: Gateway, path: string, token: string | null = TOKEN): Promise<Response> {
  return fetch(gateway.url(path), { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

async function scrape(gateway: Gateway): Promise<string> {
  const res = await get(gateway, '/metrics');
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of one sample line (`name{labels} value`), or null when there is none. */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

describe('GET /metrics on a real gateway', () => {
  let mock: MockLlm;
  let gateway: Gateway;

  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 50, chunkIntervalMs: 1 }, rules: [chatRule('@', 599, USAGE_CHUNK)] });
    gateway = await startGateway({
      config: {
        gateway: { auth: { token: TOKEN } },
        agents: { defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 } },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      },
      env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' },
    });
  });
  after(async () => {
    await gateway?.stop();
    await mock?.stop();
  });

  test('needs the gateway token by default', async () => {
    assert.equal((await get(gateway, '/metrics', null)).status, 401);
    assert.equal((await get(gateway, '/metrics', 'wrong-token-0123456789abcdef')).status, 401);
    assert.equal((await get(gateway, '/METRICS/', null)).status, 401);
  });

  test('counts requests by route template, agent turns, model calls and tokens; passes promtool check metrics', { skip: needsPackage('promtool', 'prometheus') }, async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(gateway, '/health', null)).status, 200);
    assert.equal((await get(gateway, '/api/sessions/main:api:secret-chat-name')).status, 404);
    assert.equal((await get(gateway, '/no/such/route')).status, 404);
    const turn = await fetch(gateway.url('/api/agent'), {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Weather?' }),
    });
    assert.equal(turn.status, 200, await turn.text());

    const text = await scrape(gateway);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool has no lint warnings');

    assert.ok(sample(text, 'xopc_http_requests_total{method="GET",route="/health",status="200"}')! >= 3);
    assert.equal(sample(text, 'xopc_http_requests_total{method="GET",route="/api/sessions/:key",status="404"}'), 1);
    assert.equal(sample(text, 'xopc_http_requests_total{method="POST",route="/api/agent",status="200"}'), 1);
    assert.equal(sample(text, 'xopc_http_requests_total{method="GET",route="unmatched",status="404"}'), 1);
    assert.ok(sample(text, 'xopc_http_request_duration_seconds_count{method="GET",route="/health",status="200"}')! >= 3);
    // Raw paths never become label values.
    assert.doesNotMatch(text, /secret-chat-name|no\/such\/route/);

    assert.equal(sample(text, 'xopc_agent_turns_total{agent="main",result="ok"}'), 1);
    assert.equal(sample(text, 'xopc_model_call_duration_seconds_count{provider="mock",model="test-model"}'), 1);
    assert.equal(sample(text, 'xopc_model_call_errors_total{provider="mock",model="test-model"}'), 0);
    assert.equal(sample(text, 'xopc_model_tokens_total{provider="mock",model="test-model",direction="input"}'), 11);
    assert.equal(sample(text, 'xopc_model_tokens_total{provider="mock",model="test-model",direction="output"}'), 4);
    assert.equal(sample(text, 'xopc_messages_pending'), 0);

    // Both processes' memory: the supervisor's arrives over IPC.
    assert.ok(sample(text, 'xopc_process_resident_memory_bytes{process="worker"}')! > 10e6);
    assert.ok(sample(text, 'xopc_process_resident_memory_bytes{process="supervisor"}')! > 10e6);
    assert.ok(sample(text, 'xopc_process_heap_used_bytes{process="supervisor"}')! > 1e6);
    assert.notEqual(sample(text, 'xopc_process_event_loop_delay_seconds{process="supervisor",stat="p99"}'), null);
    assert.equal(sample(text, 'xopc_gateway_restarts_total'), 0);
    assert.equal(sample(text, 'xopc_worker_crashes_total'), 0);
  });

  test('a failed model call counts as an error of its provider and model', async () => {
    await mock.setConfig({ rules: [chatRule('@', 500, JSON.stringify({ error: { message: 'down', type: 'server_error' } }))] });
    const turn = await fetch(gateway.url('/api/agent'), {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Weather?' }),
    });
    assert.equal(turn.status, 502);
    const text = await scrape(gateway);
    assert.equal(sample(text, 'xopc_model_call_errors_total{provider="mock",model="test-model"}'), 1);
    assert.equal(sample(text, 'xopc_agent_turns_total{agent="main",result="error"}'), 1);
  });

  test('restarts and worker crashes reach the worker from the supervisor', async () => {
    const first = gateway.lock()!;
    process.kill(first.pid, 'SIGUSR1');
    const restarted = await gateway.waitForServing({ exceptWorkerPid: first.workerPid! });
    await waitUntil(async () => sample(await scrape(gateway), 'xopc_gateway_restarts_total') === 1, 10_000, 'restarts_total 1');

    process.kill(restarted.workerPid!, 'SIGKILL');
    await waitUntil(() => !alive(restarted.workerPid), 5000, 'the killed worker to be gone');
    await gateway.waitForServing({ exceptWorkerPid: restarted.workerPid! });
    const text = await scrape(gateway);
    assert.equal(sample(text, 'xopc_worker_crashes_total'), 1);
    assert.equal(sample(text, 'xopc_worker_crashes_recent'), 1);
    assert.equal(sample(text, 'xopc_gateway_restarts_total'), 1);
    // The second crash in a row would wait twice the first delay (100 ms).
    assert.equal(sample(text, 'xopc_worker_crash_backoff_seconds'), 0.2);
  });
});

describe('GET /metrics configuration', () => {
  test('gateway.metrics.public serves it without the token; enabled: false serves nothing', async (t) => {
    const open = await startGateway({ config: { gateway: { auth: { token: TOKEN }, metrics: { public: true } } } });
    t.after(() => open.stop());
    const res = await get(open, '/metrics', null);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /^# HELP xopc_http_requests_total /m);

    const off = await startGateway({ config: { gateway: { auth: { token: TOKEN }, metrics: { enabled: false } } } });
    t.after(() => off.stop());
    const none = await get(off, '/metrics');
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  });
});

describe('a real Prometheus server scrapes the gateway', { skip: needsPackage('prometheus', 'prometheus') }, () => {
  let gateway: Gateway;
  let prometheus: ChildProcess | undefined;
  let dir: string;
  let api = '';
  let output = '';

  before(async () => {
    gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN } } } });
    dir = mkdtempSync(join(tmpdir(), 'xopc-prometheus-'));
    const target = `127.0.0.1:${gateway.port}`;
    // The scrape config the README shows, plus a job without the token that must fail.
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: xopc',
      '    authorization:',
      `      credentials: ${TOKEN}`,
      '    static_configs:',
      `      - targets: ['${target}']`,
      '  - job_name: xopc-without-token',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout!.on('data', (chunk) => (output += chunk));
    prometheus.stderr!.on('data', (chunk) => (output = (output + chunk).slice(-20_000)));
    await waitUntil(async () => (await fetch(`${api}/-/ready`).catch(() => null))?.ok, 30_000, `prometheus to be ready\n${output}`);
  });
  after(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = once(prometheus, 'exit');
      prometheus.kill('SIGTERM');
      await exited;
    }
    await gateway?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    assert.equal(body.status, 'success');
    return body.data.result;
  }

  test('answers a query for the request counter through its HTTP API', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await fetch(gateway.url('/health'))).status, 200);
    const result = await waitUntil(async () => {
      const rows = await query('xopc_http_requests_total{job="xopc",route="/health",method="GET",status="200"}');
      return rows.length === 1 && Number(rows[0]!.value[1]) >= 5 ? rows : null;
    }, 30_000, `Prometheus to have scraped the /health counter\n${output}`);
    assert.equal(result[0]!.metric.instance, `127.0.0.1:${gateway.port}`);

    const up = await waitUntil(async () => {
      const rows = await query('up');
      return rows.length === 2 ? rows : null;
    }, 30_000, 'both jobs scraped');
    const byJob = Object.fromEntries(up.map((row) => [row.metric.job, row.value[1]]));
    assert.deepEqual(byJob, { xopc: '1', 'xopc-without-token': '0' });
  });
});
