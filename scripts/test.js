// `npm test`: node's test runner on the built tests, with node's usual output (spec on a
// terminal, TAP when piped, as with no reporter given) on stdout, plus one closing line on
// stderr naming the tests skipped for a missing system package (dist/test/helpers/skip-summary-reporter.js).
// Arguments: test files to run instead of all of dist/test/*.test.js.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = process.argv.slice(2);
if (files.length === 0) {
  for (const name of readdirSync(`${root}dist/test`).sort()) if (name.endsWith('.test.js')) files.push(`dist/test/${name}`);
}
const args = [
  '--test',
  '--test-concurrency=2',
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${root}dist/test/helpers/skip-summary-reporter.js`,
  '--test-reporter-destination=stderr',
  ...files,
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exitCode = result.status ?? 1;
