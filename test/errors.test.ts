import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../worker/http/errors.js';

// dist/test/errors.test.js -> the repository root.
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The rows of the markdown table whose header is `| code | HTTP | when |`. */
function errorTable(markdown: string): Array<{ code: string; status: number }> {
  const lines = markdown.split(/\r?\n/);
  const header = lines.findIndex((line) => /^\|\s*code\s*\|\s*HTTP\s*\|\s*when\s*\|\s*$/.test(line.trim()));
  assert.notEqual(header, -1, 'README.md has no "| code | HTTP | when |" table');
  const rows: Array<{ code: string; status: number }> = [];
  // Skip the header and the |---| separator; the table ends at the first line that is not a row.
  for (const line of lines.slice(header + 2)) {
    if (!line.trim().startsWith('|')) break;
    const cells = line.trim().replace(/^\||\|$/g, '').split('|').map((cell) => cell.trim());
    rows.push({ code: cells[0]!.replace(/`/g, ''), status: Number(cells[1]) });
  }
  return rows;
}

test('README error table lists exactly the registry codes with the same HTTP statuses', () => {
  const rows = errorTable(readFileSync(README, 'utf8'));
  const documented = new Map(rows.map((row) => [row.code, row.status]));
  assert.equal(documented.size, rows.length, 'a code is listed twice in the README table');
  const registered = new Map(Object.entries(ERROR_CODES).map(([code, entry]) => [code, entry.status as number]));
  assert.deepEqual([...documented.keys()].sort(), [...registered.keys()].sort());
  for (const [code, status] of registered) assert.equal(documented.get(code), status, `${code}: README says ${documented.get(code)}, registry says ${status}`);
});

test('every registered status is an HTTP error status', () => {
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^[A-Z][A-Z_]*$/);
    assert.ok(entry.status >= 400 && entry.status <= 599, code);
  }
});
