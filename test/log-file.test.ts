import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRotatingFile, resolveLogFile } from '../src/log-file.js';
import { configHash } from '../src/paths.js';
import { readLastLines } from '../src/log-reader.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-log-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A JSON line of exactly 100 bytes with the newline: {"i":N,"pad":"xxx..."} */
function line(i: number): string {
  const head = `{"i":${i},"pad":"`;
  return `${head}${'x'.repeat(100 - head.length - 3)}"}\n`;
}

test('rotates by size, keeps maxFiles rotated files and deletes the oldest', (t) => {
  const path = join(tempDir(t), 'logs', 'gateway.log');
  const file = createRotatingFile({ path, maxBytes: 1000, maxFiles: 3 });
  for (let i = 0; i < 100; i++) file.write(line(i));
  file.close();

  for (const name of [path, `${path}.1`, `${path}.2`, `${path}.3`]) {
    assert.ok(statSync(name).size <= 1000, `${name} stays within maxBytes`);
  }
  assert.equal(statSync(`${path}.1`).size, 1000, 'a rotated file is filled up to maxBytes');
  assert.equal(existsSync(`${path}.4`), false, 'retention is bounded');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  // What is kept is the newest lines, in order, without gaps.
  const kept = readFileSync(`${path}.3`, 'utf8') + readFileSync(`${path}.2`, 'utf8') + readFileSync(`${path}.1`, 'utf8') + readFileSync(path, 'utf8');
  const numbers = kept.trim().split('\n').map((text) => (JSON.parse(text) as { i: number }).i);
  assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, k) => 100 - numbers.length + k));
  assert.equal(numbers.length, 40);
});

test('removes rotated files left beyond maxFiles (maxFiles was lowered)', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'gateway.log');
  for (const suffix of ['1', '2', '3', '7', 'old']) writeFileSync(`${path}.${suffix}`, 'x\n');
  createRotatingFile({ path, maxBytes: 1000, maxFiles: 2 }).close();
  assert.deepEqual(['1', '2', '3', '7', 'old'].map((s) => existsSync(`${path}.${s}`)), [true, true, false, false, true]);
});

test('follows an external rotation: the next write goes to the new file at the path', (t) => {
  const path = join(tempDir(t), 'gateway.log');
  const file = createRotatingFile({ path, maxBytes: 10_000, maxFiles: 3, checkIntervalMs: 0 });
  file.write(line(1));
  renameSync(path, `${path}.1`);
  file.write(line(2));
  assert.equal(readFileSync(`${path}.1`, 'utf8'), line(1));
  assert.equal(readFileSync(path, 'utf8'), line(2));
  unlinkSync(path); // removed by hand: recreated on the next write
  file.write(line(3));
  file.close();
  assert.equal(readFileSync(path, 'utf8'), line(3));
  assert.equal(existsSync(`${path}.2`), false);
});

test('two writers on one path (respawn handover) rotate once and lose no line', async (t) => {
  const path = join(tempDir(t), 'gateway.log');
  const a = createRotatingFile({ path, maxBytes: 1000, maxFiles: 5, checkIntervalMs: 0 });
  const b = createRotatingFile({ path, maxBytes: 1000, maxFiles: 5, checkIntervalMs: 0 });
  for (let i = 0; i < 30; i++) (i % 2 ? b : a).write(line(i));
  a.close();
  b.close();
  for (const name of [path, `${path}.1`, `${path}.2`]) assert.ok(statSync(name).size <= 1000, `${name} within maxBytes`);
  assert.equal(statSync(`${path}.1`).size, 1000, 'no nearly empty file from a double rotation');
  const all = await readLastLines(path, 100, 5);
  assert.deepEqual(all.map((text) => (JSON.parse(text) as { i: number }).i), Array.from({ length: 30 }, (_, i) => i));
});

test('a write that fails does not throw, is reported once, and the file recovers', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'logs', 'gateway.log');
  const errors: Error[] = [];
  const file = createRotatingFile({ path, maxBytes: 10_000, maxFiles: 2, checkIntervalMs: 0, onError: (err) => errors.push(err) });
  file.write(line(1));
  rmSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(path, { recursive: true }); // the path is now a directory: opening it fails
  file.write(line(2));
  file.write(line(3));
  assert.equal(errors.length, 1);
  rmSync(join(dir, 'logs'), { recursive: true }); // even the directory is gone: recreated
  file.write(line(4));
  file.close();
  file.write(line(5)); // after close: ignored
  assert.equal(readFileSync(path, 'utf8'), line(4));
});

test('resolveLogFile: logging.file relative to the config, ~ and the default', () => {
  const env = { XOPC_HOME: '/srv/xopc' };
  assert.equal(resolveLogFile({ file: null }, '/srv/xopc/config.json', env), '/srv/xopc/logs/gateway.log');
  // Another config's gateway keeps its own state, logs included.
  assert.equal(resolveLogFile({ file: null }, '/etc/xopc/config.json', env), `/srv/xopc/gateways/${configHash('/etc/xopc/config.json')}/logs/gateway.log`);
  assert.equal(resolveLogFile({ file: 'logs/gw.log' }, '/etc/xopc/config.json', env), '/etc/xopc/logs/gw.log');
  assert.equal(resolveLogFile({ file: '/var/log/xopc.log' }, '/etc/xopc/config.json', env), '/var/log/xopc.log');
  assert.ok(resolveLogFile({ file: '~/gw.log' }, '/etc/xopc/config.json', env).endsWith('/gw.log'));
});
