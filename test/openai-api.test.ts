import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { removeHome, startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { chatRule, completion, ECHO_RULE, errorContent, startMockLlm, type MockLlm, type MockLlmRule } from './helpers/mock-llm.js';

// The official OpenAI SDK as the client, a real gateway, a real OpenAI-compatible model server.

const FAST = { chunkSize: 3, chunkIntervalMs: 0 };

function gatewayConfig(mock: MockLlm, extra: Record<string, unknown> = {}) {
  return {
    agents: {
      defaults: { model: 'mock/m', maxRetries: 0, timeoutMs: 30_000 },
      list: [{ id: 'main' }, { id: 'helper' }, { id: 'off', enabled: false }],
    },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    logging: { level: 'warn' },
    ...extra,
  };
}

function client(gateway: Gateway, apiKey = gateway.token): OpenAI {
  return new OpenAI({ baseURL: gateway.url('/v1'), apiKey, maxRetries: 0 });
}

async function sessionMessages(gateway: Gateway, key: string): Promise<Array<{ role: string; content: string }>> {
  const res = await fetch(gateway.url(`/api/sessions/${key}`), { headers: { authorization: `Bearer ${gateway.token}` } });
  assert.equal(res.status, 200, `session ${key}`);
  return ((await res.json()) as { session: { messages: Array<{ role: string; content: string }> } }).session.messages.map(({ role, content }) => ({ role, content }));
}

/** A rule that answers with how many messages the model was sent (system prompt included). */
const COUNT_RULE: MockLlmRule = chatRule('@', 200, completion('{{jmes request length(body.messages)}} messages'));

describe('OpenAI-compatible API with the official SDK', () => {
  let mock: MockLlm;
  let gateway: Gateway;
  let openai: OpenAI;

  before(async () => {
    mock = await startMockLlm({ streaming: FAST, rules: [ECHO_RULE] });
    gateway = await startGateway({ config: gatewayConfig(mock) });
    openai = client(gateway);
  });
  after(async () => {
    await gateway?.stop();
    if (gateway) removeHome(gateway.home);
    await mock?.stop();
  });

  test('models.list() names the enabled agents, owned by xopc', async () => {
    const models = [];
    for await (const model of openai.models.list()) models.push(model);
    assert.deepEqual(models.map((model) => [model.id, model.object, model.owned_by]), [['main', 'model', 'xopc'], ['helper', 'model', 'xopc']]);
    assert.equal((await openai.models.retrieve('helper')).id, 'helper');
  });

  test('a plain completion answers in OpenAI\'s format and records the turn in a fresh session', async () => {
    await mock.setConfig({ rules: [ECHO_RULE] });
    const { data, response } = await openai.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'Hello there' }] }).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.match(data.id, /^chatcmpl-/);
    assert.equal(data.model, 'main');
    assert.equal(data.choices.length, 1);
    assert.equal(data.choices[0]!.message.content, 'Hello there');
    assert.equal(data.choices[0]!.finish_reason, 'stop');
    const key = response.headers.get('x-xopc-session')!;
    assert.match(key, /^main:openai:chat-[0-9a-f-]+$/);
    assert.deepEqual(await sessionMessages(gateway, key), [{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: 'Hello there' }]);
  });

  test('a streamed completion: chunks whose deltas join to the whole reply, then [DONE]', async () => {
    const text = 'The quick brown fox jumps over the lazy dog, twice over';
    await mock.setConfig({ rules: [chatRule('@', 200, completion(text))] });
    const stream = await openai.chat.completions.create({ model: 'helper', messages: [{ role: 'user', content: 'Tell me' }], stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 3, `several chunks: ${chunks.length}`);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, chunks[0]!.id);
      assert.equal(chunk.model, 'helper');
    }
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), text);
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
    assert.deepEqual(chunks.slice(0, -1).map((chunk) => chunk.choices[0]!.finish_reason).filter(Boolean), []);
  });

  test('usage and finish_reason "length" are passed on as the provider reports them', async () => {
    // mock-llm writes a rule with a status >= 400 verbatim as one streamed event (see toolCallRule).
    const chunk = {
      id: 'chatcmpl-cut', object: 'chat.completion.chunk', created: 0, model: 'mock',
      choices: [{ index: 0, delta: { role: 'assistant', content: 'Cut sho' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 },
    };
    await mock.setConfig({ rules: [chatRule('@', 599, JSON.stringify(chunk))] });
    const plain = await openai.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'Write a lot' }] });
    assert.equal(plain.choices[0]!.message.content, 'Cut sho');
    assert.equal(plain.choices[0]!.finish_reason, 'length');
    assert.deepEqual(plain.usage, { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 });

    const chunks = [];
    for await (const part of await openai.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'Write a lot' }], stream: true, stream_options: { include_usage: true } })) chunks.push(part);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 21, completion_tokens: 3, total_tokens: 24 });
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
  });

  test('a wrong key is the SDK\'s AuthenticationError', async () => {
    await assert.rejects(client(gateway, 'not-the-gateway-token').models.list(), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.code, 'UNAUTHORIZED');
      return true;
    });
  });

  test('an unknown or disabled model is the SDK\'s NotFoundError', async () => {
    for (const model of ['nobody', 'off']) {
      await assert.rejects(openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.NotFoundError, String(err));
        assert.equal(err.code, 'MODEL_NOT_FOUND');
        assert.equal(err.param, 'model');
        return true;
      });
    }
  });

  test('what is not supported is a 400 that says so', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ n: 2 }, /n > 1 is not supported/],
      [{ tools: [{ type: 'function', function: { name: 'lookup', parameters: {} } }] }, /Client-side tools are not supported/],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] }, /"image_url" are not supported/],
      [{ response_format: { type: 'json_object' } }, /response_format "json_object" is not supported/],
      [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }, /last non-system message must be from the user/],
    ];
    for (const [extra, message] of cases) {
      const request = { model: 'main', messages: [{ role: 'user', content: 'hi' }], ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming;
      await assert.rejects(openai.chat.completions.create(request), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.match(err.message, message);
        return true;
      });
    }
  });

  test('a failing model provider is a 502 the SDK reports as a server error', async () => {
    await mock.setConfig({ rules: [chatRule('@', 500, errorContent('the model server broke'))] });
    await assert.rejects(openai.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.InternalServerError, String(err));
      assert.equal(err.status, 502);
      assert.equal(err.code, 'AGENT_ERROR');
      return true;
    });
    await mock.setConfig({ rules: [ECHO_RULE] });
  });

  test('two turns with the same user share the session: the second sees the first', async () => {
    await mock.setConfig({ rules: [COUNT_RULE] });
    const first = await openai.chat.completions.create({ model: 'main', user: 'alice', messages: [{ role: 'user', content: 'My name is Alice' }] });
    // The system prompt and the message.
    assert.equal(first.choices[0]!.message.content, '2 messages');
    // Clients resend the history; only the newest user message is new.
    const second = await openai.chat.completions.create({
      model: 'main',
      user: 'alice',
      messages: [{ role: 'user', content: 'My name is Alice' }, { role: 'assistant', content: '2 messages' }, { role: 'user', content: 'What is my name?' }],
    });
    assert.equal(second.choices[0]!.message.content, '4 messages');
    assert.deepEqual(await sessionMessages(gateway, 'main:openai:alice'), [
      { role: 'user', content: 'My name is Alice' },
      { role: 'assistant', content: '2 messages' },
      { role: 'user', content: 'What is my name?' },
      { role: 'assistant', content: '4 messages' },
    ]);
    // The X-Xopc-Session header names a session too, and beats `user`.
    const viaHeader = await openai.chat.completions.create({ model: 'main', user: 'bob', messages: [{ role: 'user', content: 'Hi again' }] }, { headers: { 'X-Xopc-Session': 'alice' } });
    assert.equal(viaHeader.choices[0]!.message.content, '6 messages');
  });

  test('without a session the request\'s messages are the whole context; system messages add to the system prompt', async () => {
    await mock.setConfig({ rules: [COUNT_RULE, chatRule("contains(body.messages[0].content, 'Talk like a pirate')", 200, completion('Arr'))] });
    const { data, response } = await openai.chat.completions.create({
      model: 'main',
      messages: [{ role: 'system', content: 'Talk like a pirate.' }, { role: 'user', content: 'one' }, { role: 'assistant', content: 'two' }, { role: 'user', content: 'three' }],
    }).withResponse();
    assert.equal(data.choices[0]!.message.content, 'Arr');
    await mock.setConfig({ rules: [COUNT_RULE] });
    const counted = await openai.chat.completions.create({ model: 'main', messages: [{ role: 'user', content: 'one' }, { role: 'assistant', content: 'two' }, { role: 'user', content: 'three' }] });
    assert.equal(counted.choices[0]!.message.content, '4 messages');
    // Only the turn itself is stored.
    assert.deepEqual(await sessionMessages(gateway, response.headers.get('x-xopc-session')!), [{ role: 'user', content: 'three' }, { role: 'assistant', content: 'Arr' }]);
  });

  test('an aborted stream cancels the model call and leaves no half-written turn', async () => {
    await mock.setConfig({ streaming: { chunkSize: 1, chunkIntervalMs: 100 }, rules: [chatRule('@', 200, completion('a long answer that takes many seconds to stream out, one character at a time'))] });
    const abort = new AbortController();
    const mark = gateway.output().length;
    const newOutput = () => gateway.output().slice(mark);
    const stream = await openai.chat.completions.create({ model: 'main', user: 'aborter', messages: [{ role: 'user', content: 'Take your time' }], stream: true }, { signal: abort.signal });
    let text = '';
    // The SDK ends the iteration quietly once its signal aborts.
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (text.length >= 2) abort.abort();
    }
    assert.ok(abort.signal.aborted);
    // Whichever comes first: the turn fails because it was cancelled, or finishes (the bug).
    const outcome = await waitUntil(() => /agent turn (failed|finished)/.exec(newOutput())?.[1], 30_000, 'the end of the turn');
    assert.equal(outcome, 'failed');
    assert.match(newOutput(), /client went away/);
    await mock.setConfig({ streaming: FAST, rules: [ECHO_RULE] });
    assert.deepEqual(await sessionMessages(gateway, 'main:openai:aborter'), []);
  });
});

test('a restart during a stream: the old worker drains it and the stream completes', { timeout: 90_000 }, async () => {
  const text = 'This answer outlives the worker that started it.';
  const mock = await startMockLlm({ streaming: { chunkSize: 1, chunkIntervalMs: 40 }, rules: [chatRule('@', 200, completion(text))] });
  const gateway = await startGateway({ config: gatewayConfig(mock, { gateway: { drainTimeoutMs: 20_000 } }), env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' } });
  try {
    const oldWorker = gateway.lock()!.workerPid!;
    const stream = await client(gateway).chat.completions.create({ model: 'main', user: 'restart', messages: [{ role: 'user', content: 'Go' }], stream: true });
    let joined = '';
    let restarted = false;
    for await (const chunk of stream) {
      joined += chunk.choices[0]?.delta.content ?? '';
      if (!restarted && joined.length > 0) {
        restarted = true;
        process.kill(gateway.lock()!.pid, 'SIGUSR1');
      }
    }
    assert.equal(joined, text);
    await gateway.waitForServing({ exceptWorkerPid: oldWorker });
    assert.deepEqual(await sessionMessages(gateway, 'main:openai:restart'), [{ role: 'user', content: 'Go' }, { role: 'assistant', content: text }]);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});

test('gateway.openai.enabled: false turns /v1 off', async () => {
  const mock = await startMockLlm({ rules: [ECHO_RULE] });
  const gateway = await startGateway({ config: gatewayConfig(mock, { gateway: { openai: { enabled: false } } }) });
  try {
    await assert.rejects(client(gateway).models.list(), (err: unknown) => err instanceof OpenAI.NotFoundError);
    const doc = (await (await fetch(gateway.url('/openapi.json'))).json()) as { paths: Record<string, unknown> };
    assert.deepEqual(Object.keys(doc.paths).filter((path) => path.startsWith('/v1')), []);
    assert.ok(doc.paths['/api/agent']);
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});

test('failed keys on /v1 count toward the same lockout as /api: 429 with Retry-After, the SDK\'s RateLimitError', async () => {
  const mock = await startMockLlm({ rules: [ECHO_RULE] });
  // Loopback counts toward the lockout here (by default this machine's own clients are exempt).
  const gateway = await startGateway({ config: gatewayConfig(mock, { gateway: { auth: { lockoutLoopback: true } } }) });
  try {
    // The default lockout: 10 failed attempts from one address within a minute.
    for (let attempt = 0; attempt < 10; attempt++) {
      await assert.rejects(client(gateway, `wrong-key-${attempt}`).models.list(), (err: unknown) => err instanceof OpenAI.AuthenticationError);
    }
    await assert.rejects(client(gateway).models.list(), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.ok(Number(err.headers?.get('retry-after')) > 0);
      assert.equal(err.code, 'RATE_LIMITED');
      return true;
    });
    const api = await fetch(gateway.url('/api/sessions'), { headers: { authorization: `Bearer ${gateway.token}` } });
    assert.equal(api.status, 429, 'the lockout covers /api too');
  } finally {
    await gateway.stop();
    removeHome(gateway.home);
    await mock.stop();
  }
});
