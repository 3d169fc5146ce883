import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandSpecs } from '../src/cli-argv.js';
import { buildConfigCli } from '../src/commands/config.js';
import { maskToken } from '../src/config.js';
import { ConfigKeyError, joinKey, knownKeys, splitKey } from '../src/config-keys.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, childEnv, removeHome, runCli, startGateway, tempHome, waitUntil } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';

const TOKEN = 'tok-3f9a61c2d8e04b7a9c5e1f2d3b4a5968';
const SECRETS = {
  'gateway.auth.token': TOKEN,
  'providers.openai.apiKey': 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx',
  'channels.telegram.token': '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw',
  'channels.telegram.webhookSecret': 'hook-secret-0123456789abcdef',
  'channels.webhook.secret': 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
};

/** A temp XOPC_HOME holding `config` (as text, or as JSON written with 2 spaces) at config.json, mode 0600. */
function homeWith(config?: Record<string, unknown> | string): { home: string; file: string } {
  const home = tempHome('xopc-config-');
  const file = join(home, 'config.json');
  if (config !== undefined) writeFileSync(file, typeof config === 'string' ? config : `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return { home, file };
}

const xopc = (home: string, ...args: string[]) => runCli(home, args);
const mode = (file: string) => statSync(file).mode & 0o777;

test('set then get: numbers, text, booleans, lists, objects and agents by id, read back as written', async (t) => {
  const { home, file } = homeWith();
  t.after(() => removeHome(home));
  const cases: Array<[string, string, unknown]> = [
    ['gateway.port', '8080', 8080],
    ['gateway.host', '127.0.0.1', '127.0.0.1'],
    ['gateway.metrics.public', 'true', true],
    ['gateway.trustedProxies', '["10.0.0.0/8","127.0.0.1"]', ['10.0.0.0/8', '127.0.0.1']],
    ['gateway.worker', '{"maxRssMb":512}', { maxRssMb: 512, maxAgeHours: null, memoryCheckMs: 5000, standby: false }],
    ['agents.list.ops.model', 'openai/gpt-4o', 'openai/gpt-4o'],
    ['agents.list[0].systemPrompt', 'Be brief.', 'Be brief.'],
    ['providers.local.baseUrl', 'http://127.0.0.1:11434/v1', 'http://127.0.0.1:11434/v1'],
  ];
  for (const [key, typed, expected] of cases) {
    const set = await xopc(home, 'config', 'set', key, typed);
    assert.equal(set.code, 0, set.stderr);
    const dotted = key.replace(/\[(\w+)\]/g, '.$1');
    assert.ok(set.stdout.split('\n').some((line) => line.startsWith(`✅ ${dotted}: `)), set.stdout);
    const get = await xopc(home, 'config', 'get', key, '--json');
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(JSON.parse(get.stdout), expected, key);
    assert.equal(mode(file), 0o600, `mode after setting ${key}`);
  }
  // Plain output: scalars as they are, objects as JSON.
  assert.equal((await xopc(home, 'config', 'get', 'gateway.host')).stdout, '127.0.0.1\n');
  assert.equal((await xopc(home, 'config', 'get', 'gateway.port')).stdout, '8080\n');
  assert.equal((await xopc(home, 'config', 'get', 'gateway.host', '--json')).stdout, '"127.0.0.1"\n');
  // The new agent came with its id, after the default one, which is kept.
  const agents = JSON.parse(readFileSync(file, 'utf8')).agents.list as Array<{ id: string; model?: string; systemPrompt?: string }>;
  assert.deepEqual(agents.map((agent) => agent.id), ['main', 'ops']);
  assert.equal(agents[0]!.systemPrompt, 'Be brief.');
  // A default that the file does not hold is read too.
  assert.equal((await xopc(home, 'config', 'get', 'gateway.drainTimeoutMs')).stdout, '5000\n');
  // --string: digits stay text.
  assert.equal((await xopc(home, 'config', 'set', 'agents.list.ops.systemPrompt', '42', '--string')).code, 0);
  assert.equal((await xopc(home, 'config', 'get', 'agents.list.ops.systemPrompt', '--json')).stdout, '"42"\n');
});

test('keys: dotted names, [index], and a name with a dot quoted in brackets; each key reads back as it is written', () => {
  const cases: Array<[string, string[]]> = [
    ['gateway.port', ['gateway', 'port']],
    ['agents.list[0].model', ['agents', 'list', '0', 'model']],
    ['providers["ollama.lan"].apiKey', ['providers', 'ollama.lan', 'apiKey']],
    ["providers['a\"b'].baseUrl", ['providers', 'a"b', 'baseUrl']],
    ['providers[local].baseUrl', ['providers', 'local', 'baseUrl']],
  ];
  for (const [key, segments] of cases) {
    assert.deepEqual(splitKey(key), segments, key);
    assert.deepEqual(splitKey(joinKey(segments)), segments, `${key} round trip`);
  }
  assert.equal(joinKey(['providers', 'ollama.lan', 'apiKey']), 'providers["ollama.lan"].apiKey');
  assert.equal(joinKey(['agents', 'list', '0']), 'agents.list.0');
  for (const bad of ['', '.gateway', 'gateway.', 'gateway..port', 'providers[ollama.lan].apiKey', 'providers[].x', 'providers["x"', 'gateway"port']) {
    assert.throws(() => splitKey(bad), ConfigKeyError, JSON.stringify(bad));
  }
  assert.ok(knownKeys({ providers: { 'ollama.lan': { baseUrl: 'http://x' } } }).includes('providers["ollama.lan"].baseUrl'));
});

test('a provider whose name holds a dot is set, read, masked and unset through its bracketed key', async (t) => {
  const { home, file } = homeWith();
  t.after(() => removeHome(home));
  const key = 'providers["ollama.lan"].apiKey';
  const set = await xopc(home, 'config', 'set', key, 'sk-lan-0123456789abcdefghij');
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /^✅ providers\["ollama\.lan"\]\.apiKey: nothing → "sk-\.\.\.hij"$/m);
  assert.ok(!set.stdout.includes('sk-lan-0123456789abcdefghij'), 'the key is masked');
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).providers, { 'ollama.lan': { apiKey: 'sk-lan-0123456789abcdefghij' } });
  assert.equal((await xopc(home, 'config', 'get', key, '--show-secrets')).stdout, 'sk-lan-0123456789abcdefghij\n');
  assert.equal((await xopc(home, 'config', 'set', 'providers["ollama.lan"].baseUrl', 'http://192.168.1.5:11434/v1')).code, 0);
  const near = await xopc(home, 'config', 'get', 'providers["ollama.lan"].baseUri');
  assert.equal(near.code, 2, 'a bad key is a usage error');
  assert.match(near.stderr, /nearest known keys: providers\["ollama\.lan"\]\.baseUrl/);
  const malformed = await xopc(home, 'config', 'get', 'providers[ollama.lan].apiKey');
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /a name with a dot in brackets: providers\["ollama\.lan"\]\.apiKey/);
  // The schema's refusal names the key the same way, with the --string hint for digits meant as text.
  const refused = await xopc(home, 'config', 'set', 'providers["ollama.lan"].baseUrl', '42');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /providers\["ollama\.lan"\]\.baseUrl: .*--string/);
  const unset = await xopc(home, 'config', 'unset', 'providers["ollama.lan"]');
  assert.equal(unset.code, 0, unset.stderr);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).providers, {});
});

test('set keeps the file\'s indentation, key order and final newline; unset brings the default back', async (t) => {
  const text = '{\n    "logging": {\n        "level": "debug"\n    },\n    "gateway": {\n        "port": 9000\n    }\n}';
  const { home, file } = homeWith(text);
  t.after(() => removeHome(home));
  assert.equal((await xopc(home, 'config', 'set', 'gateway.port', '9001')).code, 0);
  assert.equal(readFileSync(file, 'utf8'), text.replace('9000', '9001'));

  const unset = await xopc(home, 'config', 'unset', 'gateway.port');
  assert.equal(unset.code, 0, unset.stderr);
  assert.match(unset.stdout, /^✅ gateway\.port: 9001 → 18790 \(default\)$/m);
  assert.equal((await xopc(home, 'config', 'get', 'gateway.port')).stdout, '18790\n');
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { logging: { level: 'debug' }, gateway: {} });
  const again = await xopc(home, 'config', 'unset', 'gateway.port');
  assert.equal(again.code, 0);
  assert.match(again.stdout, /^Unchanged: gateway\.port is 18790 \(default\) already$/m);
});

test('an invalid set is refused with the key and the schema\'s message, the file byte for byte unchanged', async (t) => {
  const text = '{\n  "gateway": { "port": 9000, "auth": { "token": "' + TOKEN + '" } }\n}\n';
  const { home, file } = homeWith(text);
  t.after(() => removeHome(home));
  chmodSync(file, 0o600);
  const before = statSync(file);
  const cases: Array<[string[], number, RegExp]> = [
    [['gateway.port', '70000'], 1, /^❌ Not changed: the config would be invalid: gateway\.port: Invalid value: Expected <=65535 but received 70000$/],
    [['gateway.port', 'eighty'], 1, /gateway\.port: Invalid type: Expected number but received "eighty"/],
    [['channels.telegram.enabled', 'true'], 1, /channels\.telegram\.token: required when channels\.telegram\.enabled is true/],
    [['gateway.headersTimeoutMs', '60000'], 1, /gateway\.headersTimeoutMs: must not be longer than gateway\.requestTimeoutMs/],
    [['agents.list.Bad-Id.model', 'x/y'], 1, /agents\.list\.1\.id: must match/],
    [['channels.telegram.allowFrom', '[1.5]'], 1, /channels\.telegram\.allowFrom\.0: Invalid integer: Received 1\.5/],
    [['gateway.prot', '8080'], 2, /^❌ Unknown config key "gateway\.prot"; nearest known keys: gateway\.port\b/],
    [['gatway.port', '8080'], 2, /nearest known keys: gateway\.port\b/],
    [['gateway.port.x', '1'], 2, /"gateway\.port" is a number, it has no key "x"/],
    [['agents.list.7.model', 'x/y'], 2, /the list has no element "7" \(it has 1: main; an index one past the end appends\)/],
  ];
  for (const [args, code, message] of cases) {
    const result = await xopc(home, 'config', 'set', ...args);
    assert.equal(result.code, code, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr.trim(), message, args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.equal(readFileSync(file, 'utf8'), text, `${args.join(' ')} left the file as it was`);
  }
  const after = statSync(file);
  assert.equal(after.ino, before.ino, 'never replaced');
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.deepEqual(readdirSync(home), ['config.json'], 'no temp or lock file left behind');

  // A token made of digits reads as a number: the refusal says how to pass it as text.
  const digits = await xopc(home, 'config', 'set', 'channels.telegram.token', '1234567890');
  assert.equal(digits.code, 1);
  assert.match(digits.stderr, /channels\.telegram\.token: Invalid type: .*--string takes/);
  assert.ok(!digits.stderr.includes('1234567890'), 'a secret is not echoed back');
});

test('secrets are masked in get, set and unset output, in full only with --show-secrets', async (t) => {
  const { home } = homeWith();
  t.after(() => removeHome(home));
  const outputs: string[] = [];
  for (const [key, secret] of Object.entries(SECRETS)) {
    const set = await xopc(home, 'config', 'set', key, secret);
    assert.equal(set.code, 0, set.stderr);
    assert.ok(set.stdout.includes(`"${maskToken(secret)}"`), set.stdout);
    outputs.push(set.stdout, set.stderr);
    const json = await xopc(home, 'config', 'set', key, secret, '--json');
    assert.equal(JSON.parse(json.stdout).after, maskToken(secret));
    outputs.push(json.stdout, json.stderr);
    const get = await xopc(home, 'config', 'get', key);
    assert.equal(get.stdout, `${maskToken(secret)}\n`);
    outputs.push(get.stdout, get.stderr);
    assert.equal((await xopc(home, 'config', 'get', key, '--show-secrets')).stdout, `${secret}\n`);
  }
  for (const parent of ['gateway', 'channels', 'providers', 'channels.telegram']) {
    const get = await xopc(home, 'config', 'get', parent, '--json');
    assert.equal(get.code, 0, get.stderr);
    outputs.push(get.stdout, get.stderr);
  }
  const whole = await xopc(home, 'config', 'get');
  assert.equal(JSON.parse(whole.stdout).channels.webhook.secret, maskToken(SECRETS['channels.webhook.secret']));
  outputs.push(whole.stdout, whole.stderr);
  const unset = await xopc(home, 'config', 'unset', 'providers.openai');
  assert.equal(unset.code, 0, unset.stderr);
  outputs.push(unset.stdout, unset.stderr);
  // A refused secret is not echoed either.
  const short = await xopc(home, 'config', 'set', 'gateway.auth.token', 'short-secret');
  assert.equal(short.code, 1);
  outputs.push(short.stdout, short.stderr);
  for (const secret of [...Object.values(SECRETS), 'short-secret']) {
    assert.ok(!outputs.some((output) => output.includes(secret)), `${secret.slice(0, 6)}... printed in full`);
  }
  const full = JSON.parse((await xopc(home, 'config', 'get', '--show-secrets', '--json')).stdout);
  assert.equal(full.gateway.auth.token, TOKEN);
});

test('--stdin takes the value from standard input, keeping it off the command line', async (t) => {
  const { home, file } = homeWith();
  t.after(() => removeHome(home));
  const result = spawnSync(process.execPath, [CLI, 'config', 'set', 'gateway.auth.token', '--stdin'], { env: childEnv(home), input: `${TOKEN}\n`, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).gateway.auth.token, TOKEN);
  const both = spawnSync(process.execPath, [CLI, 'config', 'set', 'gateway.auth.token', TOKEN, '--stdin'], { env: childEnv(home), input: TOKEN, encoding: 'utf8' });
  assert.equal(both.status, 2);
});

test('an environment variable that beats the file is named by get and set, its value not shown', async (t) => {
  const { home } = homeWith({ providers: { openai: { apiKey: SECRETS['providers.openai.apiKey'] } } });
  t.after(() => removeHome(home));
  const fromEnv = 'sk-env-0123456789abcdefghij';
  const get = await runCli(home, ['config', 'get', 'providers.openai.apiKey'], { env: { OPENAI_API_KEY: fromEnv } });
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, `${maskToken(SECRETS['providers.openai.apiKey'])}\n`, 'the file\'s value, on stdout alone');
  assert.match(get.stderr, /OPENAI_API_KEY is set in this environment: a gateway started with it uses that instead of providers\.openai\.apiKey from the file/);
  const parent = await runCli(home, ['config', 'get', 'gateway'], { env: { XOPC_GATEWAY_TOKEN: TOKEN } });
  assert.match(parent.stderr, /XOPC_GATEWAY_TOKEN is set .* gateway\.auth\.token/);
  const set = await runCli(home, ['config', 'set', 'gateway.auth.token', TOKEN], { env: { XOPC_GATEWAY_TOKEN: fromEnv } });
  assert.match(set.stdout, /XOPC_GATEWAY_TOKEN is set in this environment/);
  assert.ok(![get, parent, set].some((run) => (run.stdout + run.stderr).includes(fromEnv)));
  const unrelated = await runCli(home, ['config', 'get', 'gateway.port'], { env: { OPENAI_API_KEY: fromEnv } });
  assert.equal(unrelated.stderr, '');
});

test('validate: exit 0 when valid, else every problem as key: message (text and JSON)', async (t) => {
  const { home, file } = homeWith({ gateway: { port: 8080 } });
  t.after(() => removeHome(home));
  const valid = await xopc(home, 'config', 'validate');
  assert.equal(valid.code, 0, valid.stdout);
  assert.equal(valid.stdout, `✅ ${file} is valid\n`);
  assert.deepEqual(JSON.parse((await xopc(home, 'config', 'validate', '--json')).stdout), { valid: true, configPath: file, problems: [] });

  // Broken by hand: three keys at once.
  writeFileSync(file, JSON.stringify({ gateway: { port: 'x', auth: { token: 'short' } }, channels: { webhook: { enabled: true } }, unknownKey: { kept: true } }, null, 2));
  const text = await xopc(home, 'config', 'validate');
  assert.equal(text.code, 1);
  assert.match(text.stdout, /is invalid \(3 problems\):/);
  assert.match(text.stdout, /^ {3}gateway\.port: Invalid type: Expected number but received "x"$/m);
  assert.match(text.stdout, /^ {3}gateway\.auth\.token: must be at least 16 characters \(this one has 5\)/m);
  assert.match(text.stdout, /^ {3}channels\.webhook\.secret: required when channels\.webhook\.enabled is true/m);
  const json = await xopc(home, 'config', 'validate', '--json');
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { valid: boolean; problems: Array<{ key: string; message: string }> };
  assert.equal(report.valid, false);
  assert.deepEqual(report.problems.map((problem) => problem.key).sort(), ['channels.webhook.secret', 'gateway.auth.token', 'gateway.port']);

  // Not JSON at all: one problem, where.
  writeFileSync(file, '{\n  "gateway": {\n    "port": 8080,\n  }\n}\n');
  const syntax = await xopc(home, 'config', 'validate', '--json');
  assert.equal(syntax.code, 1);
  const [problem] = JSON.parse(syntax.stdout).problems as Array<{ key: string; message: string }>;
  assert.equal(problem!.key, '(file)');
  assert.match(problem!.message, /not valid JSON: .*\(line 4, column 3\)/);

  // No file: the defaults, which are valid.
  const none = homeWith();
  t.after(() => removeHome(none.home));
  const missing = await xopc(none.home, 'config', 'validate');
  assert.equal(missing.code, 0);
  assert.match(missing.stdout, /No config file at .*: the defaults apply/);
  assert.equal(existsSync(none.file), false, 'validate writes nothing');
});

test('get on a file invalid by hand still shows what it holds, and says it is invalid', async (t) => {
  const { home } = homeWith({ gateway: { port: 'x' } });
  t.after(() => removeHome(home));
  const get = await xopc(home, 'config', 'get', 'gateway.port');
  assert.equal(get.code, 0);
  assert.equal(get.stdout, 'x\n');
  assert.match(get.stderr, /The config file is invalid \(gateway\.port: Invalid type/);
  // And a set that fixes it is taken.
  assert.equal((await xopc(home, 'config', 'set', 'gateway.port', '8080')).code, 0);
  assert.equal((await xopc(home, 'config', 'validate')).code, 0);
});

test('the file stays 0600, also when it was opened up by hand', async (t) => {
  const { home, file } = homeWith({ gateway: { port: 8080 } });
  t.after(() => removeHome(home));
  chmodSync(file, 0o644);
  assert.equal((await xopc(home, 'config', 'set', 'logging.level', 'debug')).code, 0);
  assert.equal(mode(file), 0o600);
  assert.equal((await xopc(home, 'config', 'unset', 'logging.level')).code, 0);
  assert.equal(mode(file), 0o600);
});

test('concurrent sets do not corrupt the file: each lands, the last one of a key wins', async (t) => {
  const { home, file } = homeWith({ gateway: { port: 8080 } });
  t.after(() => removeHome(home));
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all([
      xopc(home, 'config', 'set', 'gateway.drainTimeoutMs', String(1000 + round)),
      xopc(home, 'config', 'set', 'gateway.idleTimeoutMs', String(2000 + round)),
      xopc(home, 'config', 'set', 'gateway.port', String(9000 + round)),
      xopc(home, 'config', 'set', 'gateway.port', String(9100 + round)),
    ]);
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const config = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(config.gateway.drainTimeoutMs, 1000 + round, 'a change made at the same time as another is not lost');
    assert.equal(config.gateway.idleTimeoutMs, 2000 + round);
    assert.ok([9000 + round, 9100 + round].includes(config.gateway.port), String(config.gateway.port));
    assert.equal((await xopc(home, 'config', 'validate')).code, 0);
    assert.equal(mode(file), 0o600);
  }
  assert.deepEqual(readdirSync(home), ['config.json'], 'no temp or lock file left behind');
});

test('with a gateway running: set says it applies by itself (host and port need a stop and start), status shows a file broken by hand', { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN } } } });
  t.after(async () => {
    await gateway.stop();
    removeHome(gateway.home);
  });
  const set = await xopc(gateway.home, 'config', 'set', 'logging.level', 'debug');
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, new RegExp(`The running gateway \\(pid ${gateway.pid}\\) watches this file and applies the change by itself`));
  assert.doesNotMatch(set.stdout, /starts anew/);
  const file = await xopc(gateway.home, 'config', 'set', 'logging.maxFiles', '3');
  assert.match(file.stdout, /logging\.maxFiles: this key changes only when the gateway starts anew/);
  const port = await xopc(gateway.home, 'config', 'set', 'gateway.port', '0', '--json');
  const result = JSON.parse(port.stdout) as { gatewayPid: number; notes: string[] };
  assert.equal(result.gatewayPid, gateway.pid);
  assert.ok(result.notes.some((note) => /^gateway\.port: this key changes only when the gateway starts anew .*: stop it/.test(note)), result.notes.join('\n'));

  const fine = JSON.parse((await xopc(gateway.home, 'gateway', 'status', '--json')).stdout);
  assert.equal(fine.configValid, true);
  assert.deepEqual(fine.configProblems, []);

  const valid = readFileSync(gateway.configPath, 'utf8');
  writeFileSync(gateway.configPath, valid.replace('"debug"', '"loud"'));
  const status = await xopc(gateway.home, 'gateway', 'status');
  assert.equal(status.code, 0, 'the gateway still runs');
  assert.match(status.stdout, /The config file is invalid: logging\.level: Invalid type: Expected \("trace" \| .*\) but received "loud"; the running gateway keeps its last valid config/);
  const json = JSON.parse((await xopc(gateway.home, 'gateway', 'status', '--json')).stdout);
  assert.equal(json.running, true);
  assert.equal(json.configValid, false);
  assert.deepEqual(json.configProblems.map((problem: { key: string }) => problem.key), ['logging.level']);
});

test('the README documents every config command and each of its flags', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const spec of commandSpecs(buildConfigCli()).filter((command) => command.name !== '')) {
    const name = spec.name.split(' ')[0]!;
    const row = readme.split('\n').find((line) => line.startsWith(`| \`xopc config ${name}`));
    assert.ok(row, `no README row for xopc config ${name}`);
    for (const flag of spec.flags.filter((flag) => !['-h', '--help', '-v', '--version'].includes(flag))) assert.ok(row.includes(flag), `README row of config ${name} lacks ${flag}`);
  }
});

test('under load, config set adds an agent and enables a channel on the running gateway with 0 failed requests; a refused set reaches it not', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN } } } });
  t.after(async () => {
    await gateway.stop();
    removeHome(gateway.home);
  });
  const served = async () => {
    const res = await fetch(gateway.url('/api/status'), { headers: { authorization: `Bearer ${TOKEN}` } });
    return (await res.json()) as { workerPid: number; channels: string[]; agents: Array<{ id: string }> };
  };
  let stopLoad: () => void = () => {};
  const load = runLoad({ port: gateway.port, clients: 8, keepAlive: true, until: new Promise<void>((resolve) => (stopLoad = resolve)), maxMs: 60_000 });
  await sleep(300);

  const refused = await xopc(gateway.home, 'config', 'set', 'channels.webhook.enabled', 'true');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /channels\.webhook\.secret: required when channels\.webhook\.enabled is true/);
  const agent = await xopc(gateway.home, 'config', 'set', 'agents.list.helper', '{"systemPrompt":"You help."}');
  assert.equal(agent.code, 0, agent.stderr);
  const channel = await xopc(gateway.home, 'config', 'set', 'channels.webhook', JSON.stringify({ enabled: true, secret: 'a-webhook-secret-for-tests', replyUrl: 'http://127.0.0.1:9/replies' }));
  assert.equal(channel.code, 0, channel.stderr);
  assert.ok(!channel.stdout.includes('a-webhook-secret-for-tests'), channel.stdout);

  const applied = await waitUntil(async () => {
    const now = await served();
    return now.agents.some((entry) => entry.id === 'helper') && now.channels.includes('webhook') ? now : null;
  }, 20_000, 'the new agent and the webhook channel to be served');
  await sleep(500);
  stopLoad();
  const result = await load;
  assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.errors)}`);
  assert.ok(result.ok > 100, `the load ran (${result.ok} requests)`);
  assert.deepEqual(applied.agents.map((entry) => entry.id), ['main', 'helper']);
  assert.doesNotMatch(gateway.output(), /config change refused/, 'the refused set never reached the file');
});
