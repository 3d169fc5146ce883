import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { removeHome, tempHome } from './helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEM_PACKAGE = pathToFileURL(join(ROOT, 'dist/test/helpers/system-package.js')).href;

/** A test file that needs runit's runsv, and a PATH without it (only sh, for the lookup). */
function fixture(dir: string): { file: string; path: string } {
  const file = join(dir, 'needs-runsv.test.mjs');
  writeFileSync(
    file,
    [
      "import { test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "import { spawnSync } from 'node:child_process';",
      `import { needsPackage } from '${SYSTEM_PACKAGE}';`,
      "test('supervises with runsv', { skip: needsPackage('runsv', 'runit') }, () => {",
      "  assert.equal(spawnSync('runsv', []).error, undefined, 'runsv must run');",
      '});',
      "test('needs nothing', () => {});",
    ].join('\n'),
  );
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return { file, path: bin };
}

/** `npm test`'s runner (scripts/test.js) on one file. */
function runTests(file: string, env: NodeJS.ProcessEnv) {
  const clean = { ...process.env };
  delete clean.CI;
  // The runner's child must not think it runs inside this test run.
  delete clean.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, [join(ROOT, 'scripts/test.js'), file], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
}

test('a missing system package skips its test with a line naming the package, and the run closes with a summary', () => {
  const dir = tempHome('xopc-runner-');
  try {
    const { file, path } = fixture(dir);
    const run = runTests(file, { PATH: path });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /needs `runsv` \(Debian package runit: apt-get install -y --no-install-recommends runit\)/);
    // node's own closing counts are still there, untouched.
    assert.match(run.stdout, /# skipped 1/);
    assert.match(run.stdout, /# pass 1/);
    assert.match(run.stderr, /^skipped: 1 test \(runit: runsv\)$/m);
  } finally {
    removeHome(dir);
  }
});

test('with CI set, the same test runs and fails on the missing tool, and nothing is reported skipped', () => {
  const dir = tempHome('xopc-runner-');
  try {
    const { file, path } = fixture(dir);
    const run = runTests(file, { PATH: path, CI: 'true' });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /runsv must run/);
    assert.match(run.stdout, /# fail 1/);
    assert.doesNotMatch(run.stderr, /skipped:/);
  } finally {
    removeHome(dir);
  }
});
