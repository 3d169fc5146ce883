import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A real OpenAI-compatible server for tests: `@dwmkerr/mock-llm` in a child process on
 * 127.0.0.1, port 0. Its config is YAML (JSON is YAML too, so objects are accepted);
 * rules are matched with JMESPath against the request, the last matching rule wins.
 */

/** The repository root, where node_modules lives (this file runs from dist/test/helpers). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const START_TIMEOUT_MS = 15_000;

// Runs inside the child: mock-llm's own server factory, listening on a port the OS picks.
const CHILD_SCRIPT = `
const { createServer } = require('@dwmkerr/mock-llm/dist/server.js');
const { loadConfig } = require('@dwmkerr/mock-llm/dist/config.js');
const config = loadConfig(process.argv[1]);
const server = createServer(config, '127.0.0.1', 0).listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));
`;

export interface MockLlmRule {
  path: string;
  method?: string;
  match?: string;
  sequence?: number;
  response: { status: number; content: string };
}

export interface MockLlmConfig {
  streaming?: { chunkSize: number; chunkIntervalMs: number };
  rules: MockLlmRule[];
}

export interface MockLlm {
  /** `http://127.0.0.1:PORT/v1`, what a provider's `baseUrl` is set to. */
  baseUrl: string;
  port: number;
  pid: number;
  /** Replaces the rules (and `streaming`, if given) and resets the sequence counters. */
  setConfig(config: string | MockLlmConfig): Promise<void>;
  stop(): Promise<void>;
}

export async function startMockLlm(config?: string | MockLlmConfig): Promise<MockLlm> {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-mock-llm-'));
  const configFile = join(dir, 'mock-llm.yaml');
  // Without a config file mock-llm runs its defaults: the echo rule.
  if (config !== undefined) writeFileSync(configFile, serialize(config));

  const child: ChildProcess = spawn(process.execPath, ['-e', CHILD_SCRIPT, configFile], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
  const started = await Promise.race([
    once(child, 'message').then(([message]) => message as { port: number }),
    once(child, 'exit').then(([code]) => {
      throw new Error(`mock-llm exited (${code}) before listening:\n${stderr}`);
    }),
  ]).finally(() => clearTimeout(timer));
  const origin = `http://127.0.0.1:${started.port}`;

  return {
    baseUrl: `${origin}/v1`,
    port: started.port,
    pid: child.pid!,
    async setConfig(next) {
      // DELETE resets the rules and the sequence counters to the start-up config; PATCH then
      // merges top-level keys, so `streaming` stays as started unless `next` sets it
      // (POST would drop it, and mock-llm then fails on every streamed answer).
      await check(await fetch(`${origin}/config`, { method: 'DELETE' }));
      await check(await fetch(`${origin}/config`, { method: 'PATCH', headers: { 'content-type': 'application/x-yaml' }, body: serialize(next) }));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** mock-llm's default rule: answers with the last message's content. */
export const ECHO_RULE: MockLlmRule = chatRule('@', 200, completion('{{jmes request body.messages[-1].content}}'));

/** A rule for POST /v1/chat/completions; `match` is JMESPath over {body, headers, ...}. */
export function chatRule(match: string, status: number, content: string, sequence?: number): MockLlmRule {
  return { path: '/v1/chat/completions', method: 'POST', match, ...(sequence === undefined ? {} : { sequence }), response: { status, content } };
}

/** A chat completion whose text is `text` (a template: `{{jmes request ...}}` is expanded raw, so keep it JSON-safe). */
export function completion(text: string): string {
  return `{"id":"chatcmpl-{{timestamp}}","object":"chat.completion","model":"mock","choices":[{"index":0,"message":{"role":"assistant","content":"${text}"},"finish_reason":"stop"}]}`;
}

/** An OpenAI-style error body. */
export function errorContent(message: string, type = 'server_error'): string {
  return JSON.stringify({ error: { message, type, code: type } });
}

/**
 * A rule that answers with tool calls. mock-llm streams only `message.content`, but
 * when a rule's status is >= 400 it writes the rule's JSON verbatim as one SSE event
 * (how it streams errors). A chunk without an `error` field is then an ordinary
 * streamed delta, so this hands the client a real `tool_calls` chunk.
 */
export function toolCallRule(match: string, calls: Array<{ id: string; name: string; arguments: Record<string, unknown> }>, sequence?: number): MockLlmRule {
  const chunk = {
    id: 'chatcmpl-tools',
    object: 'chat.completion.chunk',
    created: 0,
    model: 'mock',
    choices: [{
      index: 0,
      delta: {
        role: 'assistant',
        content: null,
        tool_calls: calls.map((call, index) => ({ index, id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.arguments) } })),
      },
      finish_reason: 'tool_calls',
    }],
  };
  return chatRule(match, 599, JSON.stringify(chunk), sequence);
}

function serialize(config: string | MockLlmConfig): string {
  return typeof config === 'string' ? config : JSON.stringify(config, null, 2);
}

async function check(response: Response): Promise<void> {
  if (!response.ok) throw new Error(`mock-llm /config answered ${response.status}: ${await response.text()}`);
}
