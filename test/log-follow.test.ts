import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followLog } from '../src/log-follow.js';
import { createRotatingFile } from '../src/log-file.js';

const WAIT_MS = 10_000;
const line = (i: number) => JSON.stringify({ level: 30, time: 1_700_000_000_000 + i, msg: `line ${String(i).padStart(4, '0')}` });

/** Collects delivered lines; waitFor(n) resolves once n lines arrived, or fails after WAIT_MS. */
function collector() {
  const lines: string[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  return {
    lines,
    onLine(text: string) {
      lines.push(text);
      if (waiter && lines.length >= waiter.count) waiter.resolve();
    },
    waitFor(count: number): Promise<void> {
      if (lines.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out at ${lines.length}/${count} lines: ${lines.slice(-3).join(' | ')}`)), WAIT_MS);
        waiter = { count, resolve: () => { clearTimeout(timer); resolve(); } };
      });
    },
  };
}

test('history first, then new lines; the last lines before each rotation are not lost', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-log-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'gateway.log');
  writeFileSync(`${path}.1`, `${line(0)}\n${line(1)}\n`);
  writeFileSync(path, `${line(2)}\n`);
  const lineBytes = line(0).length + 1;
  // Two lines per file: every second write rotates.
  const writer = createRotatingFile({ path, maxBytes: 2 * lineBytes, maxFiles: 3 });
  t.after(() => writer.close());

  const seen = collector();
  const follower = await followLog(path, { lines: 2, maxFiles: 3, onLine: seen.onLine });
  t.after(() => follower.stop());
  assert.deepEqual(seen.lines, [line(1), line(2)]);

  // Each round fills the current file with its last line and, right behind it, writes the
  // line that rotates it: the follower must read the first from the renamed file.
  let next = 3;
  for (let round = 0; round < 15; round++) {
    writer.write(`${line(next++)}\n`);
    writer.write(`${line(next++)}\n`);
    await seen.waitFor(next - 1);
  }
  assert.deepEqual(seen.lines, Array.from({ length: next - 1 }, (_, i) => line(i + 1)));
});

test('a rotation that lands while the follower checks the path does not drop the old file\'s last line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-log-follow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'gateway.log');
  writeFileSync(path, `${line(1)}\n`);
  const writer = createRotatingFile({ path, maxBytes: 2 * (line(0).length + 1), maxFiles: 3 });
  t.after(() => writer.close());

  // The race needs the writer to act between the follower reaching the end of the file
  // and its stat of the path. Another process hits that window now and then; here the
  // writes are placed in it every time, by running them as the stat is issued.
  const realStat = fs.stat;
  let rotateOnNextStat: number | undefined;
  (fs as { stat: unknown }).stat = (target: fs.PathLike, ...rest: unknown[]) => {
    if (target === path && rotateOnNextStat !== undefined) {
      writer.write(`${line(rotateOnNextStat)}\n`);
      writer.write(`${line(rotateOnNextStat + 1)}\n`);
      rotateOnNextStat = undefined;
    }
    return (realStat as (...args: unknown[]) => void)(target, ...rest);
  };
  syncBuiltinESMExports();
  t.after(() => {
    fs.stat = realStat;
    syncBuiltinESMExports();
  });

  const seen = collector();
  const follower = await followLog(path, { lines: 1, maxFiles: 3, onLine: seen.onLine });
  t.after(() => follower.stop());
  let next = 2;
  for (let round = 0; round < 5; round++) {
    rotateOnNextStat = next;
    next += 2;
    fs.appendFileSync(join(dir, 'nudge'), 'x'); // a directory event wakes the follower
    await seen.waitFor(next - 1);
  }
  assert.deepEqual(seen.lines, Array.from({ length: next - 1 }, (_, i) => line(i + 1)));
});
