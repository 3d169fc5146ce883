import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../src/config.js';
import { createModelResolver } from '../worker/agent/providers.js';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { freePort } from './helpers/net.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

describe('model resolution', () => {
  const resolve = (providers: Record<string, unknown>, ref: string) => createModelResolver(configSchema.parse({ providers })).resolve(ref, { agentId: 'main', setting: 'agents.defaults.model' });

  test('a catalog model keeps its protocol; baseUrl and api override it', async () => {
    const plain = await resolve({ openai: { apiKey: 'sk-test' } }, 'openai/gpt-4o-mini');
    assert.equal(plain.model.api, 'openai-responses');
    assert.equal(plain.model.baseUrl, 'https://api.openai.com/v1');
    assert.equal(plain.apiKey, 'sk-test');
    const proxied = await resolve({ openai: { apiKey: 'sk-test', baseUrl: 'http://127.0.0.1:4000/v1', api: 'openai-completions' } }, 'openai/gpt-4o-mini');
    assert.equal(proxied.model.baseUrl, 'http://127.0.0.1:4000/v1');
    assert.equal(proxied.model.api, 'openai-completions');
  });

  test('a baseUrl other than OpenAI\'s own speaks chat completions unless api says otherwise', async () => {
    const local = await resolve({ openai: { baseUrl: 'http://127.0.0.1:11434/v1' } }, 'openai/gpt-4o-mini');
    assert.equal(local.model.api, 'openai-completions');
    assert.equal(local.endpoint, 'http://127.0.0.1:11434/v1/chat/completions');
    const strict = await resolve({ openai: { baseUrl: 'http://127.0.0.1:11434/v1', api: 'openai-responses' } }, 'openai/gpt-4o-mini');
    assert.equal(strict.model.api, 'openai-responses');
    assert.equal(strict.endpoint, 'http://127.0.0.1:11434/v1/responses');
    const own = await resolve({ openai: { apiKey: 'sk-test', baseUrl: 'https://api.openai.com/v1' } }, 'openai/gpt-4o-mini');
    assert.equal(own.model.api, 'openai-responses');
    // Another catalog protocol is kept: a baseUrl for Anthropic is a proxy of Anthropic's API.
    const proxy = await resolve({ anthropic: { apiKey: 'sk-ant-test', baseUrl: 'http://127.0.0.1:4000' } }, 'anthropic/claude-haiku-4-5');
    assert.equal(proxy.model.api, 'anthropic-messages');
    assert.equal(proxy.endpoint, 'http://127.0.0.1:4000/v1/messages');
  });

  test('a model id the catalog does not know yet is used with the provider\'s protocol', async () => {
    const resolved = await resolve({ anthropic: { apiKey: 'sk-ant-test' } }, 'anthropic/claude-from-the-future');
    assert.equal(resolved.model.id, 'claude-from-the-future');
    assert.equal(resolved.model.api, 'anthropic-messages');
  });

  test('any other provider name with a baseUrl is an OpenAI-compatible server; no key needed', async () => {
    const resolved = await resolve({ ollama: { baseUrl: 'http://127.0.0.1:11434/v1' } }, 'ollama/llama3.1:8b');
    assert.equal(resolved.model.id, 'llama3.1:8b');
    assert.equal(resolved.model.api, 'openai-completions');
    assert.ok(resolved.apiKey.length > 0);
  });

  test('what is missing is an AGENT_ERROR that says what to set', async () => {
    // Each names both settings involved: the provider's and the one that picks the model.
    await assert.rejects(resolve({}, 'anthropic/claude-sonnet-4-5'), { code: 'AGENT_ERROR', message: /ANTHROPIC_API_KEY .*providers\.anthropic\.apiKey.*agents\.defaults\.model/ });
    await assert.rejects(resolve({}, 'gpt-4o'), { code: 'AGENT_ERROR', message: /provider\/model.*agents\.defaults\.model/ });
    await assert.rejects(resolve({ lmstudio: { apiKey: 'x' } }, 'lmstudio/qwen'), { code: 'AGENT_ERROR', message: /providers\.lmstudio\.baseUrl.*agents\.defaults\.model/ });
  });
});

/**
 * Against a real OpenAI-compatible server (mock-llm): a baseUrl to it works without
 * `api`, and every failure names the provider, the URL called and the fix.
 */
describe('OpenAI-compatible servers', () => {
  let mock: MockLlm;
  let app: AgentApp;
  let downUrl: string;

  before(async () => {
    mock = await startMockLlm();
    downUrl = `http://127.0.0.1:${await freePort()}/v1`;
    const origin = mock.baseUrl.replace(/\/v1$/, '');
    app = await startAgentApp({
      agents: {
        defaults: { maxRetries: 0, timeoutMs: 10_000 },
        list: [
          { id: 'main', model: 'openai/gpt-4o-mini' },
          { id: 'strict', model: 'strict/llama' },
          { id: 'wrong', model: 'wrong/llama' },
          { id: 'down', model: 'down/llama' },
        ],
      },
      providers: {
        openai: { apiKey: 'sk-test-not-a-real-key-0123456789', baseUrl: mock.baseUrl },
        strict: { baseUrl: mock.baseUrl, api: 'openai-responses' },
        wrong: { baseUrl: `${origin}/wrong` },
        down: { baseUrl: downUrl },
      },
    });
  });
  after(async () => {
    await app?.close();
    await mock?.stop();
  });

  test('providers.openai.baseUrl to a compatible server works without api', async () => {
    const res = await app.call('POST', '/api/agent', { message: 'hello compatible', session: 'compat' });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.reply, 'hello compatible');
  });

  test('a 404 on /responses says to set api', async () => {
    const res = await app.call('POST', '/api/agent', { message: 'hi', session: 'strict', agentId: 'strict' });
    assert.equal(res.status, 502);
    assert.equal(res.json.error.code, 'AGENT_ERROR');
    const message: string = res.json.error.message;
    assert.ok(message.includes(`Model provider 'strict'`), message);
    assert.ok(message.includes(`POST ${mock.baseUrl}/responses`), message);
    assert.ok(message.includes('set providers.strict.api to "openai-completions"'), message);
  });

  test('a wrong URL is named, with the setting to check', async () => {
    const res = await app.call('POST', '/api/agent', { message: 'hi', session: 'wrong', agentId: 'wrong' });
    assert.equal(res.status, 502);
    const message: string = res.json.error.message;
    assert.ok(message.includes(`Model provider 'wrong'`), message);
    assert.ok(message.includes(`POST ${mock.baseUrl.replace(/\/v1$/, '')}/wrong/chat/completions`), message);
    assert.match(message, /404.*Check providers\.wrong\.baseUrl/);
  });

  test('a connection error names the URL', async () => {
    const res = await app.call('POST', '/api/agent', { message: 'hi', session: 'down', agentId: 'down' });
    assert.equal(res.status, 502);
    const message: string = res.json.error.message;
    assert.ok(message.includes(`Model provider 'down'`), message);
    assert.ok(message.includes(`Could not connect to ${downUrl}`), message);
    assert.ok(message.includes('providers.down.baseUrl'), message);
  });
});

/**
 * The Anthropic adapter against a local server speaking the Messages API's streaming
 * protocol (mock-llm only speaks OpenAI's): the request the library builds and the
 * answers it parses, text and tool use.
 */
describe('Anthropic provider', () => {
  const requests: Array<{ path: string; headers: http.IncomingHttpHeaders; body: any }> = [];
  let server: http.Server;
  let app: AgentApp;

  before(async () => {
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        const body = JSON.parse(raw);
        requests.push({ path: req.url!, headers: req.headers, body });
        const last = body.messages.at(-1);
        const lastText = typeof last.content === 'string' ? last.content : last.content.map((block: any) => block.text ?? '').join('');
        if (lastText.includes('bad key')) {
          res.writeHead(401, { 'content-type': 'application/json', 'request-id': 'req_1' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const toolResult = last.content.find?.((block: any) => block.type === 'tool_result');
        if (lastText.includes('time') && !toolResult) {
          writeAnthropicStream(res, [{ type: 'tool_use', id: 'toolu_1', name: 'current_time', input: { timezone: 'UTC' } }], 'tool_use');
        } else {
          const text = toolResult ? `tool said ${toolResult.tool_use_id}` : `claude heard: ${lastText}`;
          writeAnthropicStream(res, [{ type: 'text', text }], 'end_turn');
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    app = await startAgentApp({
      agents: { defaults: { model: 'anthropic/claude-sonnet-4-5', maxRetries: 0 }, list: [{ id: 'main', systemPrompt: 'Be brief.' }] },
      providers: { anthropic: { apiKey: 'sk-ant-test-key', baseUrl: `http://127.0.0.1:${port}` } },
    });
  });
  after(async () => {
    await app?.close();
    server?.close();
  });

  test('sends the key, the system prompt and the history; parses streamed text', async () => {
    const first = await app.call('POST', '/api/agent', { message: 'hello there', session: 'claude' });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(first.json.reply, 'claude heard: hello there');
    const second = await app.call('POST', '/api/agent', { message: 'again', session: 'claude' });
    assert.equal(second.json.reply, 'claude heard: again');

    const { path, headers, body } = requests.at(-1)!;
    assert.equal(path, '/v1/messages');
    assert.equal(headers['x-api-key'], 'sk-ant-test-key');
    assert.ok(headers['anthropic-version']);
    assert.equal(body.stream, true);
    assert.equal(body.model, 'claude-sonnet-4-5');
    assert.match(JSON.stringify(body.system), /Be brief\./);
    assert.deepEqual(body.messages.map((m: any) => m.role), ['user', 'assistant', 'user']);
    assert.ok(body.tools.some((tool: any) => tool.name === 'current_time'));
  });

  test('runs a tool_use round trip', async () => {
    const res = await app.call('POST', '/api/agent', { message: 'what time is it', session: 'claude-tools' });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.reply, 'tool said toolu_1');
  });

  test('with no model configured, the provider that has a key picks the default', async () => {
    const port = (server.address() as AddressInfo).port;
    const keyOnly = await startAgentApp({ agents: { defaults: { maxRetries: 0 } }, providers: { anthropic: { apiKey: 'sk-ant-test-key', baseUrl: `http://127.0.0.1:${port}` } } });
    try {
      const res = await keyOnly.call('POST', '/api/agent', { message: 'who answers?', session: 'default-model' });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(requests.at(-1)!.body.model, 'claude-haiku-4-5');
    } finally {
      await keyOnly.close();
    }
  });

  test('an authentication error is AGENT_ERROR with the provider\'s message', async () => {
    const res = await app.call('POST', '/api/agent', { message: 'bad key', session: 'claude-err' });
    assert.equal(res.status, 502);
    assert.equal(res.json.error.code, 'AGENT_ERROR');
    assert.match(res.json.error.message, /Model provider 'anthropic' failed .*invalid x-api-key/);
  });
});

type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function writeAnthropicStream(res: http.ServerResponse, blocks: Block[], stopReason: string): void {
  const send = (event: string, data: Record<string, unknown>) => res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
  send('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } });
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      send('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 7 } });
  send('message_stop', {});
  res.end();
}
