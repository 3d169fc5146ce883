import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../src/config.js';
import { createModelResolver } from '../worker/agent/providers.js';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

describe('model resolution', () => {
  const resolve = (providers: Record<string, unknown>, ref: string) => createModelResolver(configSchema.parse({ providers })).resolve(ref, 'main');

  test('a catalog model keeps its protocol; baseUrl and api override it', async () => {
    const plain = await resolve({ openai: { apiKey: 'sk-test' } }, 'openai/gpt-4o-mini');
    assert.equal(plain.model.api, 'openai-responses');
    assert.equal(plain.model.baseUrl, 'https://api.openai.com/v1');
    assert.equal(plain.apiKey, 'sk-test');
    const proxied = await resolve({ openai: { apiKey: 'sk-test', baseUrl: 'http://127.0.0.1:4000/v1', api: 'openai-completions' } }, 'openai/gpt-4o-mini');
    assert.equal(proxied.model.baseUrl, 'http://127.0.0.1:4000/v1');
    assert.equal(proxied.model.api, 'openai-completions');
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
    await assert.rejects(resolve({}, 'anthropic/claude-sonnet-4-5'), { code: 'AGENT_ERROR', message: /providers\.anthropic\.apiKey .*ANTHROPIC_API_KEY/ });
    await assert.rejects(resolve({}, 'gpt-4o'), { code: 'AGENT_ERROR', message: /provider\/model/ });
    await assert.rejects(resolve({ lmstudio: { apiKey: 'x' } }, 'lmstudio/qwen'), { code: 'AGENT_ERROR', message: /providers\.lmstudio\.baseUrl/ });
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
