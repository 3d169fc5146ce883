import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeHome, runCli, tempHome } from './helpers/gateway.js';

// Each start-up error names the flag, variable or key the bad value came from.
const cases: Array<[string, string[], NodeJS.ProcessEnv, number, RegExp]> = [
  ['--token', ['gateway', '--port', '0', '--token', 'short'], {}, 1, /^❌ Invalid --token \(gateway\.auth\.token\): must be at least 16 characters \(this one has 5\): .*`xopc gateway token --new`$/],
  ['XOPC_GATEWAY_TOKEN', ['gateway', '--port', '0'], { XOPC_GATEWAY_TOKEN: 'short' }, 1, /^❌ Invalid XOPC_GATEWAY_TOKEN \(gateway\.auth\.token\): must be at least 16 characters/],
  ['--host', ['gateway', '--port', '0', '--host', 'not-a-host.invalid'], {}, 2, /^❌ Invalid --host: "not-a-host\.invalid" is not an address or a host name this machine can resolve/],
  ['--lines', ['gateway', 'logs', '--lines', '-5'], {}, 2, /^❌ --lines must be an integer from 0 to 100000 \(got -5\)$/],
  ['-n', ['gateway', 'logs', '-n', '-5'], {}, 2, /^❌ --lines must be an integer from 0 to 100000 \(got -5\)$/],
  ['install --token', ['gateway', 'install', '--token', 'my-secret-token', '--timeout', '0'], {}, 2, /^❌ --token must be at least 16 characters \(this one has 15\): .*`xopc gateway token --new`$/],
];

for (const [what, args, env, code, message] of cases) {
  test(`a bad ${what} is blamed on ${what}, in one line`, async () => {
    const home = tempHome();
    try {
      const result = await runCli(home, args, { env: { HOME: home, ...env } });
      assert.equal(result.code, code, result.stdout + result.stderr);
      assert.match(result.stderr.trim(), message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.doesNotMatch(result.stderr, /Unexpected error|Invalid config|Unknown option/);
    } finally {
      removeHome(home);
    }
  });
}

test('a bad value in the config file is still blamed on the file and its key', async () => {
  const home = tempHome();
  try {
    writeFileSync(join(home, 'config.json'), JSON.stringify({ gateway: { auth: { token: 'short' } } }));
    const result = await runCli(home, ['gateway', '--port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^❌ Invalid config ${join(home, 'config.json').replace(/[.]/g, '\\.')}: gateway\\.auth\\.token: must be at least 16 characters`));
  } finally {
    removeHome(home);
  }
});
