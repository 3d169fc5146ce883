import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../src/config.js';
import { createModelResolver } from '../worker/agent/providers.js';
import { startAgentApp } from './helpers/agent-app.js';
import { CLI, childEnv, startGateway, type Gateway } from './helpers/gateway.js';
import { startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { apiTable, codeBlocks, readReadme, shapeErrors, type ApiRow, type CodeBlock } from './helpers/readme.js';
import { needsPackage } from './helpers/system-package.js';

/**
 * The README's examples, run. Every `sh` block that holds a `curl` command runs as one
 * shell script (so its variables carry from line to line) against a real gateway whose
 * model provider is a real OpenAI-compatible server; `xopc` is the built CLI and
 * `localhost:18790` is the test gateway. A `curl` on PATH in front of the real one records
 * each call, and each must succeed as the HTTP API table documents it: its status, and the
 * fields of its JSON answer. Examples added later are picked up the same way; the gateway
 * runs the default config plus that model provider, so an example must work with that.
 */

const README = readReadme();
const DOCUMENTED_ORIGIN = /(?:localhost|127\.0\.0\.1):18790/g;
const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);
const SCRIPT_TIMEOUT_MS = 60_000;

interface CurlCall {
  args: string[];
  exitCode: number | null;
  status: number;
  contentType: string;
  body: string;
}

// Runs the real curl with a write-out of its own, hands back the body as curl would print
// it, and appends the call to $CURL_LOG (jq writes the JSON line: a shell cannot quote).
const CURL_SHIM = `#!/bin/sh
dir=$(mktemp -d)
"$REAL_CURL" -o "$dir/body" -w '%{json}' "$@" > "$dir/info"
code=$?
touch "$dir/body"
cat "$dir/body"
printf '%s\\0' "$@" > "$dir/args"
jq -c -n --rawfile body "$dir/body" --rawfile args "$dir/args" --slurpfile info "$dir/info" --argjson exitCode "$code" \\
  '{args: ($args | split("\\u0000") | .[:-1]), exitCode: $exitCode, status: ($info[0].response_code // 0), contentType: ($info[0].content_type // ""), body: $body}' \\
  >> "$CURL_LOG"
rm -rf "$dir"
exit $code
`;

/** The README's shell blocks that call the API. */
function curlBlocks(): CodeBlock[] {
  return codeBlocks(README).filter((block) => SHELL_LANGS.has(block.lang) && /(^|[\s($])curl\s/m.test(block.code));
}

function methodOf(args: string[]): string {
  const explicit = args.findIndex((arg) => arg === '-X' || arg === '--request');
  if (explicit !== -1) return args[explicit + 1]!.toUpperCase();
  if (args.some((arg) => arg === '-I' || arg === '--head')) return 'HEAD';
  if (args.some((arg) => /^(-d|--data.*|-F|--form|--json)$/.test(arg))) return 'POST';
  return 'GET';
}

/** What is wrong with one recorded call, measured against the table row it matches. */
function callErrors(call: CurlCall, rows: ApiRow[]): string[] {
  const url = call.args.find((arg) => /^https?:\/\//.test(arg));
  if (!url) return ['no URL among its arguments'];
  const method = methodOf(call.args);
  const { pathname } = new URL(url);
  const row = rows.find((candidate) => candidate.method === method && candidate.pattern.test(pathname));
  if (!row) return [`${method} ${pathname} is in no "| method | path |" table of the README`];
  if (call.exitCode !== 0) return [`curl exited ${call.exitCode}`];
  const okStatus = row.status ? call.status === row.status : call.status >= 200 && call.status < 300;
  if (!okStatus) return [`answered ${call.status}, documented ${row.status ?? '2xx'}: ${call.body.slice(0, 300)}`];
  if (call.contentType.startsWith('text/event-stream')) {
    return /^event: done$/m.test(call.body) ? [] : [`the event stream has no "done" event: ${call.body.slice(-300)}`];
  }
  if (!row.shape) return [];
  let json: unknown;
  try {
    json = JSON.parse(call.body);
  } catch {
    return [`the answer is not JSON: ${call.body.slice(0, 300)}`];
  }
  return shapeErrors(row.shape, json).map((error) => `${error} (documented for ${row.method} ${row.path})`);
}

describe('README curl examples', { skip: needsPackage('curl', 'curl') || needsPackage('jq', 'jq') }, () => {
  let mock: MockLlm;
  let gateway: Gateway;
  let bin: string;

  before(async () => {
    mock = await startMockLlm();
    gateway = await startGateway({
      config: {
        agents: { defaults: { model: 'mock/test-model', timeoutMs: 10_000, maxRetries: 0 } },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      },
      // A bound, not a measure: a loaded machine can take long to start a gateway.
      readyTimeoutMs: 60_000,
    });
    bin = mkdtempSync(join(tmpdir(), 'xopc-readme-bin-'));
    writeFileSync(join(bin, 'curl'), CURL_SHIM);
    writeFileSync(join(bin, 'xopc'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'curl'), 0o755);
    chmodSync(join(bin, 'xopc'), 0o755);
  });
  after(async () => {
    await gateway?.stop();
    await mock?.stop();
    if (gateway) rmSync(gateway.home, { recursive: true, force: true });
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  test('the README has curl examples, and the table\'s answers are read as shapes', () => {
    assert.ok(curlBlocks().length >= 2, 'expected the set-up and HTTP API examples');
    // The check below is only as good as this reading of the table.
    const open = apiTable(README).find((row) => row.method === 'POST' && row.path === '/api/sessions')!;
    assert.deepEqual(shapeErrors(open.shape!, { status: 'ok', session: { key: 'k' }, created: true }).filter((error) => /created /.test(error)), ['session.created is missing']);
    assert.deepEqual(shapeErrors(open.shape!, { status: 'fine', session: {} }).filter((error) => /status/.test(error)), ['status is "fine", documented "ok"']);
  });

  for (const block of curlBlocks()) {
    test(`the sh block at README.md line ${block.line} (${block.section}) runs, and every call succeeds as documented`, async (t) => {
      const log = join(bin, `calls-${block.line}.jsonl`);
      writeFileSync(log, '');
      const script = `set -e\n${block.code.replace(DOCUMENTED_ORIGIN, `127.0.0.1:${gateway.port}`)}\n`;
      const env = childEnv(gateway.home, {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        REAL_CURL: realCurl(),
        CURL_LOG: log,
        // No ~/.curlrc of the developer's changes what curl does.
        HOME: bin,
      });
      const result = await runScript(script, env);
      assert.equal(result.code, 0, `the block failed (exit ${result.code}):\n${result.stderr}\n--- output ---\n${result.stdout}`);

      const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as CurlCall);
      const commands = block.code.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
      const written = commands.match(/(^|[\s($])curl\s/gm)?.length ?? 0;
      assert.equal(calls.length, written, `the block has ${written} curl commands but ${calls.length} ran`);
      const rows = apiTable(README);
      const failures = calls.flatMap((call) => callErrors(call, rows).map((error) => `curl ${call.args.join(' ')}\n    ${error}`));
      assert.deepEqual(failures, []);
      t.diagnostic(`${calls.length} calls: ${calls.map((call) => `${methodOf(call.args)} ${call.status}`).join(', ')}`);
    });
  }
});

/**
 * The configs of "Local models", used: each OpenAI-compatible one answers through a real
 * OpenAI-compatible server at the documented path (only the host and port are the test
 * server's), and the Anthropic one resolves to Anthropic's Messages API.
 */
describe('README local model configs', () => {
  let mock: MockLlm;
  before(async () => {
    mock = await startMockLlm();
  });
  after(() => mock?.stop());

  const blocks = codeBlocks(README).filter((block) => block.section === 'Local models' && block.lang === 'json');

  test('the section has the documented servers', () => {
    const text = blocks.map((block) => block.code).join('\n');
    for (const name of ['ollama', 'lmstudio', 'vllm', 'llamacpp', 'anthropic']) assert.ok(text.includes(`"${name}"`), name);
  });

  for (const block of blocks) {
    test(`the config at README.md line ${block.line} works`, async () => {
      const documented = JSON.parse(block.code) as { agents: { defaults: { model: string } }; providers: Record<string, { baseUrl?: string; apiKey?: string }> };
      const config = configSchema.parse(documented);
      const ref = config.agents.defaults.model!;
      const [provider] = ref.split('/') as [string];
      const settings = config.providers[provider]!;
      assert.ok(settings, `the model ${ref} names a provider the block configures`);
      if (!settings.baseUrl) {
        const resolved = await createModelResolver(config).resolve(ref, { agentId: 'main', setting: 'agents.defaults.model' });
        assert.equal(resolved.model.api, 'anthropic-messages');
        assert.equal(resolved.endpoint, 'https://api.anthropic.com/v1/messages');
        return;
      }
      const resolved = await createModelResolver(config).resolve(ref, { agentId: 'main', setting: 'agents.defaults.model' });
      assert.equal(resolved.model.api, 'openai-completions');
      const documentedUrl = new URL(settings.baseUrl);
      const testUrl = new URL(mock.baseUrl);
      const baseUrl = `${testUrl.origin}${documentedUrl.pathname}`;
      const app = await startAgentApp({ ...documented, providers: { [provider]: { ...documented.providers[provider], baseUrl } }, agents: { defaults: { ...documented.agents.defaults, maxRetries: 0 } } });
      try {
        const res = await app.call('POST', '/api/agent', { message: `hello ${provider}` });
        assert.equal(res.status, 200, JSON.stringify(res.json));
        assert.equal(res.json.reply, `hello ${provider}`);
      } finally {
        await app.close();
      }
    });
  }
});

/** The curl on this process's PATH (the shim's directory is not on it). */
function realCurl(): string {
  return spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
}

function runScript(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the README block did not finish within ${SCRIPT_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`));
    }, SCRIPT_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
