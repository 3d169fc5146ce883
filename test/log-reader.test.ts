import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, closeSync, linkSync, writeSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseSince, readLastLines, readLogEntries } from '../src/log-reader.js';

function tempLog(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-log-reader-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'gateway.log');
}

function entry(i: number, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ level: 30, time: 1_700_000_000_000 + i * 1000, pid: 1, proc: 'worker', msg: `line ${i}`, ...fields });
}

const lines = (...items: string[]) => items.map((line) => `${line}\n`).join('');

test('returns exactly N lines when lines are far longer than a read chunk, across rotated files', async (t) => {
  const file = tempLog(t);
  const long = (i: number, bytes: number) => entry(i, { pad: 'x'.repeat(bytes) });
  // Oldest in .2, newest in the current file; sizes straddle the 64 KB first chunk and its doublings.
  writeFileSync(`${file}.2`, lines(long(0, 10), long(1, 3_000_000)));
  writeFileSync(`${file}.1`, lines(long(2, 200_000), long(3, 5), long(4, 70_000)));
  writeFileSync(file, lines(long(5, 65_536), long(6, 1_500_000), long(7, 1)));

  const all = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => long(i, [10, 3_000_000, 200_000, 5, 70_000, 65_536, 1_500_000, 1][i]!));
  for (const n of [1, 3, 4, 6, 8]) {
    assert.deepEqual(await readLastLines(file, n, 5), all.slice(-n), `n=${n}`);
  }
  assert.deepEqual(await readLastLines(file, 100, 5), all, 'asking for more than exists returns everything');
  assert.deepEqual(await readLastLines(file, 100, 1), all.slice(2), 'files beyond maxFiles are not read');
});

test('a 3 MB line split over several chunks comes back whole, and a line without a newline counts', async (t) => {
  const file = tempLog(t);
  const huge = entry(1, { blob: 'é'.repeat(1_500_000) });
  writeFileSync(file, `${entry(0)}\r\n\n${huge}\n   \n${entry(2)}`);
  assert.deepEqual(await readLastLines(file, 3, 0), [entry(0), huge, entry(2)]);
});

test('missing and empty files give nothing; gaps in the rotation are skipped', async (t) => {
  const file = tempLog(t);
  assert.deepEqual(await readLastLines(file, 10, 5), []);
  assert.deepEqual(await readLogEntries(file, { lines: 10 }, 5), []);
  writeFileSync(file, '');
  writeFileSync(`${file}.2`, lines(entry(1)));
  assert.deepEqual(await readLastLines(file, 10, 5), [entry(1)]);
  assert.deepEqual(await readLastLines(file, 0, 5), []);
});

test('a file rotated while it is read is not read twice under its new name', async (t) => {
  const file = tempLog(t);
  writeFileSync(`${file}.2`, lines(entry(1)));
  writeFileSync(file, lines(entry(2), entry(3)));
  linkSync(file, `${file}.1`); // what the reader finds when gateway.log became gateway.log.1 mid-scan
  assert.deepEqual(await readLastLines(file, 10, 5), [entry(1), entry(2), entry(3)]);
});

test('non-JSON lines are kept for raw output and skipped for entries', async (t) => {
  const file = tempLog(t);
  writeFileSync(file, lines(entry(1), 'node: a warning', entry(2), '[1,2]', 'Error: at the end'));
  assert.deepEqual(await readLastLines(file, 3, 0), [entry(2), '[1,2]', 'Error: at the end']);
  const entries = await readLogEntries(file, { lines: 3 }, 0);
  assert.deepEqual(entries.map((e) => e.msg), ['line 1', 'line 2']);
});

test('level, q and since filters pick the newest matching lines', async (t) => {
  const file = tempLog(t);
  writeFileSync(`${file}.1`, lines(entry(1, { level: 50 }), entry(2, { level: 20 }), entry(3, { level: 40, msg: 'Disk FULL' })));
  writeFileSync(file, lines(entry(4, { level: 30 }), entry(5, { level: 60 }), 'not json with full', entry(6, { level: 'warn' })));

  const msgs = async (query: Parameters<typeof readLogEntries>[1]) => (await readLogEntries(file, query, 5)).map((e) => e.msg);
  assert.deepEqual(await msgs({ lines: 10, minLevel: 40 }), ['line 1', 'Disk FULL', 'line 5', 'line 6']);
  assert.deepEqual(await msgs({ lines: 2, minLevel: 40 }), ['line 5', 'line 6']);
  assert.deepEqual(await msgs({ lines: 10, q: 'full' }), ['Disk FULL']);
  assert.deepEqual(await msgs({ lines: 10, since: 1_700_000_004_000 }), ['line 4', 'line 5', 'line 6']);
  assert.deepEqual(await msgs({ lines: 10, since: 1_700_000_003_000, minLevel: 50 }), ['line 5']);
  // Raw lines: q also finds non-JSON lines; level and time filters cannot apply to them.
  assert.deepEqual(await readLastLines(file, 10, 5, { q: 'FULL' }), [entry(3, { level: 40, msg: 'Disk FULL' }), 'not json with full']);
  assert.deepEqual(await readLastLines(file, 10, 5, { minLevel: 60 }), [entry(5, { level: 60 })]);
});

test('since stops the scan at the first line well before it (older files are not read)', async (t) => {
  const file = tempLog(t);
  const base = 1_700_000_000_000;
  // .2 is out of order on purpose: a scan that did not stop would find this "newer" line.
  writeFileSync(`${file}.2`, lines(JSON.stringify({ level: 30, time: base + 3_600_000, msg: 'beyond the stop' })));
  writeFileSync(`${file}.1`, lines(JSON.stringify({ level: 30, time: base - 60_000, msg: 'old' })));
  // A slightly out-of-order line (within the slack) just before since does not stop the scan.
  writeFileSync(file, lines(
    JSON.stringify({ level: 30, time: base + 1000, msg: 'kept, earlier in file' }),
    JSON.stringify({ level: 30, time: base - 1000, msg: 'a bit early' }),
    JSON.stringify({ level: 30, time: base + 2000, msg: 'newest' }),
  ));
  const entries = await readLogEntries(file, { lines: 10, since: base }, 5);
  assert.deepEqual(entries.map((e) => e.msg), ['kept, earlier in file', 'newest']);
});

test('endOffset limits the current file (used by --follow)', async (t) => {
  const file = tempLog(t);
  const head = lines(entry(1), entry(2));
  writeFileSync(file, head + lines(entry(3)));
  writeFileSync(`${file}.1`, lines(entry(0)));
  assert.deepEqual(await readLastLines(file, 10, 1, {}, { endOffset: Buffer.byteLength(head) }), [entry(0), entry(1), entry(2)]);
});

test('parseSince understands ISO times, epoch ms and durations', () => {
  const now = Date.UTC(2025, 0, 31, 12, 0, 0);
  assert.equal(parseSince('2025-01-31T11:00:00Z', now), Date.UTC(2025, 0, 31, 11));
  assert.equal(parseSince('2025-01-31T11:00:00.250+01:00', now), Date.UTC(2025, 0, 31, 10, 0, 0, 250));
  assert.equal(parseSince('2025-01-30', now), Date.UTC(2025, 0, 30));
  assert.equal(parseSince('1738324800000', now), 1738324800000);
  assert.equal(parseSince('30s', now), now - 30_000);
  assert.equal(parseSince('15m', now), now - 900_000);
  assert.equal(parseSince('2h', now), now - 7_200_000);
  assert.equal(parseSince('1d', now), now - 86_400_000);
  for (const bad of ['', 'yesterday', 'm', '-5m', '1.5h', '2025-13-45T99:00:00Z', 'March 7', '15 m']) {
    assert.equal(parseSince(bad, now), undefined, bad);
  }
});

test('a ~50 MB file answers the last 100 lines from its tail', async (t) => {
  const file = tempLog(t);
  const line = Buffer.from(`${entry(0, { component: 'http', method: 'GET', path: '/api/sessions', status: 200, ms: 3 })}\n`);
  const block = Buffer.concat(Array.from({ length: Math.ceil(1_048_576 / line.length) }, () => line));
  const fd = openSync(file, 'w');
  for (let written = 0; written < 50 * 1_048_576; written += block.length) writeSync(fd, block);
  writeSync(fd, Buffer.from(lines(entry(999_999, { msg: 'last' }))));
  closeSync(fd);

  let start = performance.now();
  const raw = await readLastLines(file, 100, 5);
  const rawMs = performance.now() - start;
  start = performance.now();
  const entries = await readLogEntries(file, { lines: 100, minLevel: 30, q: 'WORKER' }, 5);
  const entriesMs = performance.now() - start;
  assert.equal(raw.length, 100);
  assert.equal(entries.length, 100);
  assert.equal(entries.at(-1)!.msg, 'last');
  console.log(`# 50 MB log: last 100 raw lines in ${rawMs.toFixed(1)} ms, 100 filtered entries in ${entriesMs.toFixed(1)} ms`);
});
