import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { configSchema } from '../src/config.js';
import { chooseModel, requireModel } from '../worker/agent/default-model.js';
import { startAgentApp } from './helpers/agent-app.js';
import { removeHome, startGateway, waitUntil } from './helpers/gateway.js';

delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;
delete process.env.GEMINI_API_KEY;

const choose = (config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, agentId = 'main') => chooseModel(configSchema.parse(config), agentId, env);

describe('the default model', () => {
  test('follows the provider that has a key', () => {
    assert.deepEqual(choose({}, { ANTHROPIC_API_KEY: 'sk-ant' }), { ref: 'anthropic/claude-haiku-4-5', setting: 'agents.defaults.model', chosenBy: 'ANTHROPIC_API_KEY is set' });
    assert.equal(choose({ providers: { anthropic: { apiKey: 'sk-ant' } } }).ref, 'anthropic/claude-haiku-4-5');
    assert.equal(choose({}, { OPENAI_API_KEY: 'sk' }).ref, 'openai/gpt-4o-mini');
    // Both: OpenAI first, whatever the order in the config.
    assert.equal(choose({ providers: { anthropic: { apiKey: 'a' }, openai: { apiKey: 'o' } } }).ref, 'openai/gpt-4o-mini');
    // A keyed provider beats a keyless local server.
    assert.equal(choose({ providers: { ollama: { baseUrl: 'http://127.0.0.1:11434/v1' } } }, { ANTHROPIC_API_KEY: 'sk-ant' }).ref, 'anthropic/claude-haiku-4-5');
  });

  test('a configured model wins; an agent\'s own model wins over the default', () => {
    const config = { agents: { defaults: { model: 'mock/m1' }, list: [{ id: 'main' }, { id: 'other', model: 'mock/m2' }] } };
    assert.deepEqual(choose(config, { ANTHROPIC_API_KEY: 'x' }), { ref: 'mock/m1', setting: 'agents.defaults.model' });
    assert.deepEqual(choose(config, {}, 'other'), { ref: 'mock/m2', setting: 'agents.list[1].model' });
  });

  test('the only provider configured, if its models cannot be guessed, asks for agents.defaults.model', () => {
    const choice = choose({ providers: { ollama: { baseUrl: 'http://127.0.0.1:11434/v1' } } });
    assert.equal(choice.ref, null);
    assert.equal(choice.provider, 'ollama');
    assert.throws(() => requireModel(choice, 'main'), { code: 'AGENT_ERROR', message: /providers\.ollama is the only provider configured.*set agents\.defaults\.model .*"ollama\/<model>"/ });
    // OpenAI's name pointed at a compatible server is such a server too.
    assert.equal(choose({ providers: { openai: { baseUrl: 'http://127.0.0.1:8000/v1' } } }).ref, null);
  });

  test('with nothing set up, the "no key" message names the keys and agents.defaults.model', async () => {
    const app = await startAgentApp();
    try {
      const res = await app.call('POST', '/api/agent', { message: 'hello' });
      assert.equal(res.status, 502);
      assert.equal(res.json.error.code, 'AGENT_ERROR');
      assert.match(res.json.error.message, /OPENAI_API_KEY .*providers\.openai\.apiKey.*ANTHROPIC_API_KEY.*agents\.defaults\.model/);
    } finally {
      await app.close();
    }
  });

  test('a custom provider with the model left unset: the error names agents.defaults.model', async () => {
    const app = await startAgentApp({ providers: { lmstudio: { baseUrl: 'http://127.0.0.1:1234/v1' } } });
    try {
      const res = await app.call('POST', '/api/agent', { message: 'hello' });
      assert.equal(res.status, 502);
      assert.match(res.json.error.message, /agents\.defaults\.model .*lmstudio\//);
    } finally {
      await app.close();
    }
  });

  test('the start-up log says which model each agent uses', async () => {
    const gateway = await startGateway({
      config: { agents: { list: [{ id: 'main' }, { id: 'coder', model: 'anthropic/claude-sonnet-4-5' }] } },
      env: { ANTHROPIC_API_KEY: 'sk-ant-not-a-real-key' },
      // A bound, not a measure: a loaded machine can take long to start a gateway.
      readyTimeoutMs: 60_000,
    });
    try {
      const log = () => readFileSync(join(gateway.home, 'logs', 'gateway.log'), 'utf8');
      await waitUntil(() => log().includes('agent coder uses model'), 30_000, 'the agents\' model lines in the log');
      assert.match(log(), /agent main uses model anthropic\/claude-haiku-4-5 \(agents\.defaults\.model is not set; chosen because ANTHROPIC_API_KEY is set\)/);
      assert.match(log(), /agent coder uses model anthropic\/claude-sonnet-4-5 \(from agents\.list\[1\]\.model\)/);
    } finally {
      await gateway.stop();
      removeHome(gateway.home);
    }
  });
});
