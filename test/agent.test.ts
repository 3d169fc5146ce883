import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { chatRule, completion, errorContent, startMockLlm, toolCallRule, type MockLlm, type MockLlmRule } from './helpers/mock-llm.js';

// The gateway must never reach a real provider from a test.
delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

// Answers with every user message the request carried, so a reply shows the history that was sent.
const HISTORY_RULE = chatRule('@', 200, completion("{{jmes request join(' | ', body.messages[?role=='user'].content)}}"));
const FAST = { chunkSize: 50, chunkIntervalMs: 1 };

function agentsConfig(mock: MockLlm, defaults: Record<string, unknown> = {}) {
  return {
    agents: {
      default: 'main',
      defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0, ...defaults },
      list: [{ id: 'main' }, { id: 'helper', systemPrompt: 'You help.' }, { id: 'off', enabled: false }],
    },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
  };
}

describe('POST /api/agent on a real OpenAI-compatible server', () => {
  let mock: MockLlm;
  let app: AgentApp;

  before(async () => {
    mock = await startMockLlm({ streaming: FAST, rules: [HISTORY_RULE] });
    app = await startAgentApp(agentsConfig(mock, { maxMessageChars: 1000 }));
  });
  after(async () => {
    await app?.close();
    await mock?.stop();
  });

  async function useRules(rules: MockLlmRule[], streaming = FAST) {
    await mock.setConfig({ streaming, rules: [HISTORY_RULE, ...rules] });
  }

  test('the second request carries the first turn as history', async () => {
    await useRules([]);
    const first = await app.call('POST', '/api/agent', { message: 'first', session: 'history' });
    assert.equal(first.status, 200);
    assert.deepEqual(first.json, { status: 'ok', reply: 'first', session: 'history', session_key: 'main:api:history' });

    const second = await app.call('POST', '/api/agent', { message: 'second', session: 'history' });
    assert.equal(second.json.reply, 'first | second');

    const stored = await app.call('GET', '/api/sessions/main:api:history');
    assert.deepEqual(stored.json.session.messages.map((m: any) => [m.role, m.content]), [
      ['user', 'first'], ['assistant', 'first'], ['user', 'second'], ['assistant', 'first | second'],
    ]);
  });

  test('without a session the message goes to the default session of the default agent', async () => {
    await useRules([]);
    const res = await app.call('POST', '/api/agent', { message: 'hello' });
    assert.deepEqual(res.json, { status: 'ok', reply: 'hello', session: 'default', session_key: 'main:api:default' });
    assert.equal((await app.call('GET', `/api/sessions/${res.json.session_key}`)).json.session.messageCount, 2);
    // The name it answered is a key too, by the same rule.
    assert.equal((await app.call('GET', `/api/sessions/${res.json.session}`)).json.session.key, 'main:api:default');
  });

  test('a full session key is used as is and echoed back', async () => {
    await useRules([]);
    const res = await app.call('POST', '/api/agent', { message: 'hi helper', session: 'helper:webchat:abc' });
    assert.deepEqual(res.json, { status: 'ok', reply: 'hi helper', session: 'helper:webchat:abc', session_key: 'helper:webchat:abc' });
    const named = await app.call('POST', '/api/agent', { message: 'by name', session: 'notes', agentId: 'helper' });
    assert.equal(named.status, 200);
    assert.equal(named.json.session_key, 'helper:api:notes');
    assert.equal((await app.call('GET', '/api/sessions/helper:api:notes')).status, 200);
  });

  test('a tool call runs the tool and its result goes back to the model', async () => {
    await useRules([
      toolCallRule("contains(body.messages[-1].content, 'what time')", [{ id: 'call_1', name: 'current_time', arguments: { timezone: 'Asia/Tokyo' } }]),
      chatRule("body.messages[-1].role == 'tool' && body.messages[-2].tool_calls[0].function.name == 'current_time'", 200,
        completion('the clock answered {{jmes request body.messages[-1].tool_call_id}}')),
    ]);
    const res = await app.call('POST', '/api/agent', { message: 'what time is it in Tokyo', session: 'tools' });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.reply, 'the clock answered call_1');

    const { messages } = (await app.call('GET', '/api/sessions/main:api:tools')).json.session;
    assert.deepEqual(messages.map((m: any) => m.role), ['user', 'assistant', 'tool', 'assistant']);
    assert.deepEqual(messages[1].toolCalls, [{ id: 'call_1', name: 'current_time', arguments: { timezone: 'Asia/Tokyo' } }]);
    const clock = JSON.parse(messages[2].content);
    assert.equal(clock.timezone, 'Asia/Tokyo');
    assert.match(clock.iso, /\+09:00$/);
    assert.equal(messages[2].isError, false);
  });

  test('a model that keeps calling tools is stopped after maxSteps model calls', async () => {
    await useRules([toolCallRule('@', [{ id: 'call_loop', name: 'current_time', arguments: {} }])]);
    const res = await app.call('POST', '/api/agent', { message: 'loop forever', session: 'loop' });
    assert.equal(res.status, 502);
    assert.equal(res.json.error.code, 'AGENT_ERROR');
    assert.match(res.json.error.message, /agents\.defaults\.maxSteps/);
  });

  for (const [trigger, status, providerMessage] of [
    ['fail-500', 500, 'The server had an error while processing your request.'],
    ['fail-401', 401, 'Incorrect API key provided.'],
  ] as const) {
    test(`a provider ${status} is AGENT_ERROR naming the provider, and the failed turn is not stored`, async () => {
      await useRules([chatRule(`contains(body.messages[-1].content, '${trigger}')`, status, errorContent(providerMessage))]);
      const session = `errors-${status}`;
      const res = await app.call('POST', '/api/agent', { message: trigger, session });
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'AGENT_ERROR');
      assert.ok(res.json.error.message.includes(`Model provider 'mock' failed (model mock/test-model, POST ${mock.baseUrl}/chat/completions)`), res.json.error.message);
      assert.ok(res.json.error.message.includes(providerMessage), res.json.error.message);
      assert.equal((await app.call('GET', `/api/sessions/main:api:${session}`)).json.session.messageCount, 0);
    });
  }

  test('streams text deltas, then one done event with the whole reply', async () => {
    await useRules([], { chunkSize: 3, chunkIntervalMs: 1 });
    const sse = app.stream({ message: 'stream this reply', session: 'sse' });
    assert.equal(await sse.opened, 200);
    const events = await sse.finished;
    const deltas = events.filter((e) => e.event === 'delta');
    assert.ok(deltas.length >= 5, `expected several deltas, got ${JSON.stringify(events)}`);
    assert.deepEqual(events.at(-1), { event: 'done', data: { status: 'ok', reply: 'stream this reply', session: 'sse', session_key: 'main:api:sse' } });
    assert.equal(deltas.map((e) => e.data.text).join(''), 'stream this reply');
  });

  test('a streamed turn reports tool activity and a provider failure as an error event', async () => {
    await useRules([
      toolCallRule("contains(body.messages[-1].content, 'time please')", [{ id: 'call_s', name: 'current_time', arguments: {} }]),
      chatRule("body.messages[-1].role == 'tool'", 200, completion('done with tools')),
      chatRule("contains(body.messages[-1].content, 'fail-500')", 500, errorContent('upstream broke')),
    ]);
    const tools = await app.stream({ message: 'time please', session: 'sse-tools' }).finished;
    assert.deepEqual(tools.map((e) => e.event), ['tool_call', 'tool_result', 'delta', 'done']);
    assert.equal(tools[0]!.data.name, 'current_time');

    const failed = await app.stream({ message: 'fail-500', session: 'sse-tools' }).finished;
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.event, 'error');
    assert.equal(failed[0]!.data.error.code, 'AGENT_ERROR');
    assert.match(failed[0]!.data.error.message, /upstream broke/);
  });

  test('messages to one session run one at a time, in arrival order', async () => {
    await useRules([], { chunkSize: 1, chunkIntervalMs: 10 });
    // Each request is sent once the previous one is queued (its stream is open).
    const streams = [];
    for (const message of ['aa', 'bb', 'cc']) {
      const sse = app.stream({ message, session: 'serial' });
      await sse.opened;
      streams.push(sse);
    }
    const replies = await Promise.all(streams.map(async (sse) => (await sse.finished).at(-1)!.data.reply));
    // Each turn saw the finished turns before it: they ran strictly one after another.
    assert.deepEqual(replies, ['aa', 'aa | bb', 'aa | bb | cc']);
  });

  test('messages to different sessions run in parallel', async () => {
    await useRules([], { chunkSize: 1, chunkIntervalMs: 40 });
    const message = 'twenty characters ok';
    const one = app.stream({ message, session: 'parallel-1' });
    const two = app.stream({ message, session: 'parallel-2' });
    await Promise.all([one.waitFor((e) => e.event === 'delta'), two.waitFor((e) => e.event === 'delta')]);
    // Both are streaming at once: neither waited for the other to finish.
    assert.ok(!one.events.some((e) => e.event === 'done') && !two.events.some((e) => e.event === 'done'));
    await Promise.all([one.finished, two.finished]);
  });

  describe('input checks', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['a missing message', {}, /message must be a string/],
      ['a non-string message', { message: 42 }, /message must be a string/],
      ['an empty message', { message: '' }, /must not be empty/],
      ['a blank message', { message: '  \n ' }, /must not be empty/],
      ['an oversized message', { message: 'x'.repeat(1001) }, /longer than 1000 characters/],
      ['a body that is not an object', ['hello'], /JSON object/],
      ['a non-string session', { message: 'hi', session: 5 }, /session must be a string/],
      ['a bad session name', { message: 'hi', session: 'Not OK' }, /Invalid session name/],
      ['a malformed session key', { message: 'hi', session: 'main:api' }, /Invalid session key/],
      ['an unknown agentId', { message: 'hi', agentId: 'nobody' }, /Unknown agentId/],
      ['a disabled agent', { message: 'hi', agentId: 'off' }, /disabled/],
      ['a key of a disabled agent', { message: 'hi', session: 'off:api:x' }, /disabled/],
      ['an agentId that contradicts the key', { message: 'hi', session: 'main:api:x', agentId: 'helper' }, /does not match/],
    ];
    for (const [what, body, message] of cases) {
      test(`${what} is INVALID_REQUEST`, async () => {
        const res = await app.call('POST', '/api/agent', body);
        assert.equal(res.status, 400);
        assert.equal(res.json.error.code, 'INVALID_REQUEST');
        assert.match(res.json.error.message, message);
      });
    }
  });
});

describe('POST /api/agent when the provider cannot be used', () => {
  test('a provider slower than timeoutMs is AGENT_ERROR saying what to raise', async () => {
    // The first streamed chunk comes after 5 s; the gateway gives up after 300 ms.
    const mock = await startMockLlm({ streaming: { chunkSize: 100, chunkIntervalMs: 5000 }, rules: [HISTORY_RULE] });
    const app = await startAgentApp(agentsConfig(mock, { timeoutMs: 300 }));
    try {
      const res = await app.call('POST', '/api/agent', { message: 'slow', session: 'slow' });
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'AGENT_ERROR');
      assert.match(res.json.error.message, /did not answer within 300 ms .*agents\.defaults\.timeoutMs/);
    } finally {
      await app.close();
      await mock.stop();
    }
  });

  test('an unreachable provider is AGENT_ERROR', async () => {
    const app = await startAgentApp({
      agents: { defaults: { model: 'local/llama', maxRetries: 0 } },
      // Port 9 (discard) on loopback: nothing listens there in a test environment.
      providers: { local: { baseUrl: 'http://127.0.0.1:9/v1' } },
    });
    try {
      const res = await app.call('POST', '/api/agent', { message: 'anyone there?' });
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'AGENT_ERROR');
      assert.match(res.json.error.message, /Model provider 'local' failed \(model local\/llama, POST http:\/\/127\.0\.0\.1:9\/v1\/chat\/completions\)/);
    } finally {
      await app.close();
    }
  });

  test('with no provider configured the app serves, and the agent says what to set', async () => {
    const app = await startAgentApp();
    try {
      const res = await app.call('POST', '/api/agent', { message: 'hello' });
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'AGENT_ERROR');
      assert.match(res.json.error.message, /OPENAI_API_KEY .*providers\.openai\.apiKey/);
      // Asked for a stream, the same failure is still a plain JSON error: nothing was streamed yet.
      const sse = app.stream({ message: 'hello' });
      assert.equal(await sse.opened, 502);
      // Nothing was written for the failed requests.
      assert.equal((await app.call('GET', '/api/sessions')).json.total, 0);
      assert.equal((await fetch(`${app.url}/health`)).status, 200);
    } finally {
      await app.close();
    }
  });

  test('an unknown provider without a baseUrl says to set one', async () => {
    const app = await startAgentApp({ agents: { defaults: { model: 'mystery/model-1' } } });
    try {
      const res = await app.call('POST', '/api/agent', { message: 'hello' });
      assert.equal(res.status, 502);
      assert.match(res.json.error.message, /providers\.mystery\.baseUrl/);
    } finally {
      await app.close();
    }
  });
});
