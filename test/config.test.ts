import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, ensureToken, generateToken, loadConfig, maskToken, parseSize } from '../src/config.js';
import { configHash, configPath, lockPath, stateDir } from '../src/paths.js';
import { removeHome, tempHome } from './helpers/gateway.js';

test('defaults apply when there is no config file', () => {
  const home = tempHome();
  try {
    const { config, tokenSource } = loadConfig(join(home, 'config.json'), {}, {});
    assert.equal(config.gateway.port, 18790);
    assert.equal(config.gateway.host, '0.0.0.0');
    assert.equal(config.gateway.drainTimeoutMs, 5000);
    assert.equal(config.agents.default, 'main');
    assert.equal(tokenSource, 'none');
  } finally {
    removeHome(home);
  }
});

test('precedence: flag > environment > file > default', () => {
  const home = tempHome();
  const file = join(home, 'config.json');
  try {
    writeFileSync(file, JSON.stringify({ gateway: { port: 1111, host: '127.0.0.1', auth: { token: 'file-token-0123456789' } }, providers: { openai: { apiKey: 'file-key' } } }));
    const fromFile = loadConfig(file, {}, {});
    assert.equal(fromFile.config.gateway.port, 1111);
    assert.equal(fromFile.config.gateway.auth.token, 'file-token-0123456789');
    assert.equal(fromFile.tokenSource, 'file');

    const env = { XOPC_GATEWAY_TOKEN: 'env-token-0123456789', OPENAI_API_KEY: 'env-key' };
    const fromEnv = loadConfig(file, {}, env);
    assert.equal(fromEnv.config.gateway.auth.token, 'env-token-0123456789');
    assert.equal(fromEnv.config.providers.openai!.apiKey, 'env-key');
    assert.equal(fromEnv.tokenSource, 'env');

    const fromFlags = loadConfig(file, { port: 2222, host: '::1', token: 'flag-token-0123456789' }, env);
    assert.equal(fromFlags.config.gateway.port, 2222);
    assert.equal(fromFlags.config.gateway.host, '::1');
    assert.equal(fromFlags.config.gateway.auth.token, 'flag-token-0123456789');
    assert.equal(fromFlags.tokenSource, 'flag');
  } finally {
    removeHome(home);
  }
});

test('invalid values are rejected with a message naming the key', () => {
  const home = tempHome();
  const file = join(home, 'config.json');
  try {
    const cases: Array<[unknown, RegExp]> = [
      [{ gateway: { port: 'eighty' } }, /gateway\.port/],
      [{ gateway: { port: 70000 } }, /gateway\.port/],
      [{ gateway: { drainTimeoutMs: -1 } }, /gateway\.drainTimeoutMs/],
      [{ gateway: { bodyLimit: 'huge' } }, /gateway\.bodyLimit/],
      [{ gateway: { auth: { token: 'short' } } }, /gateway\.auth\.token/],
      [{ logging: { level: 'loud' } }, /logging\.level/],
      [{ agents: { list: [{ id: 'Bad Id' }] } }, /agents\.list\.0\.id/],
      [[1, 2], /must hold a JSON object/],
    ];
    for (const [value, message] of cases) {
      writeFileSync(file, JSON.stringify(value));
      assert.throws(() => loadConfig(file, {}, {}), (err: unknown) => err instanceof ConfigError && message.test(err.message) && err.message.includes(file), JSON.stringify(value));
    }
    // A secret of the wrong type or length is named, never echoed.
    for (const value of [{ gateway: { auth: { token: 1234567890123456 } } }, { providers: { openai: { apiKey: 98765432109876 } } }]) {
      writeFileSync(file, JSON.stringify(value));
      assert.throws(() => loadConfig(file, {}, {}), (err: unknown) => err instanceof ConfigError && /(token|apiKey): /.test(err.message) && !/1234567890123456|98765432109876/.test(err.message), JSON.stringify(value));
    }
    writeFileSync(file, '{ "gateway": ');
    assert.throws(() => loadConfig(file, {}, {}), /is not valid JSON/);
    writeFileSync(file, '{}');
    assert.throws(() => loadConfig(file, { port: -5 }, {}), /gateway\.port/);
  } finally {
    removeHome(home);
  }
});

test('first start generates a token, stores it 0600 atomically and keeps unknown keys', () => {
  const home = tempHome();
  const file = join(home, 'config.json');
  try {
    writeFileSync(file, JSON.stringify({ custom: { keep: true }, gateway: { port: 1234, future: 'x' } }));
    const loaded = ensureToken(loadConfig(file, {}, {}));
    assert.equal(loaded.tokenSource, 'generated');
    const token = loaded.config.gateway.auth.token!;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
    const written = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(written.gateway.auth.token, token);
    assert.deepEqual(written.custom, { keep: true });
    assert.equal(written.gateway.future, 'x');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(home).filter((f) => f.includes('.tmp')), [], 'no temp files left');
    // A second load finds it and does not generate another.
    const again = ensureToken(loadConfig(file, {}, {}));
    assert.equal(again.config.gateway.auth.token, token);
    assert.equal(again.tokenSource, 'file');
    // A token from the environment is never written to the file.
    const other = join(home, 'other.json');
    ensureToken(loadConfig(other, {}, { XOPC_GATEWAY_TOKEN: 'env-token-0123456789' }));
    assert.throws(() => readFileSync(other), /ENOENT/);
  } finally {
    removeHome(home);
  }
});

test('paths: state dir, config path, lock per config', () => {
  assert.equal(stateDir({ XOPC_HOME: '/tmp/x' }), '/tmp/x');
  assert.equal(configPath(undefined, { XOPC_HOME: '/tmp/x' }), '/tmp/x/config.json');
  assert.equal(configPath(undefined, { XOPC_HOME: '/tmp/x', XOPC_CONFIG: '/etc/xopc.json' }), '/etc/xopc.json');
  assert.equal(configPath('/a/b.json', { XOPC_CONFIG: '/etc/xopc.json' }), '/a/b.json');
  assert.match(configHash('/a/b.json'), /^[0-9a-f]{8}$/);
  assert.notEqual(lockPath('/a/b.json', { XOPC_HOME: '/s' }), lockPath('/a/c.json', { XOPC_HOME: '/s' }));
  assert.equal(lockPath('/a/b.json', { XOPC_HOME: '/s' }), `/s/locks/gateway.${configHash('/a/b.json')}.lock`);
});

test('sizes and token masking', () => {
  assert.equal(parseSize('1mb'), 1024 * 1024);
  assert.equal(parseSize('512kb'), 512 * 1024);
  assert.equal(parseSize(100), 100);
  assert.equal(maskToken(null), '(none)');
});

test('a masked token never shows more than a quarter of the token', () => {
  assert.equal(maskToken('abcdefghijklmnopq'), 'ab...pq', 'a 17-character token shows 4 of 17');
  assert.equal(maskToken('abc12345MIDDLExyz67890'), 'ab...90');
  for (let length = 1; length <= 100; length++) {
    const token = Array.from({ length }, (_, i) => String.fromCharCode(65 + (i % 26))).join('');
    const shown = maskToken(token).replace('...', '').length;
    assert.ok(shown * 4 <= length, `length ${length}: ${maskToken(token)} shows ${shown}`);
  }
});

test('a generated token is 43 base64url characters and never starts with "-" (a command line would take it for a flag)', () => {
  // One in 64 draws of plain base64url starts with "-": 2000 tokens all but surely include one.
  const tokens = Array.from({ length: 2000 }, () => generateToken());
  for (const token of tokens) assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
  assert.equal(new Set(tokens).size, tokens.length);
});
