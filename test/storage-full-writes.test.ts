import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/atomic-write.js';
import { appendLine, createExclusive } from '../worker/sessions/session-file.js';
import { removeHome, tempHome } from './helpers/gateway.js';

/**
 * The write primitives on a full file system (a 1 MB tmpfs the test mounts, as root;
 * skipped with a line otherwise): a refused append leaves the file as it was (no torn
 * line), and a refused create or replace leaves no temp file, not even an empty one.
 */

const root = process.getuid?.() === 0;

function fillUp(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  try {
    for (;;) writeSync(fd, Buffer.alloc(4096, 120));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}

test('on a full disk: an append is rolled back, creates and atomic replaces leave no temp file', { skip: root ? false : 'needs root to mount a small tmpfs' }, async () => {
  const dir = tempHome('xopc-full-writes-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  try {
    const session = join(dir, 'session.jsonl');
    const before = `${JSON.stringify({ t: 'session', v: 1, key: 'main:api:x' })}\n`;
    writeFileSync(session, before);
    writeFileSync(join(dir, 'config.json'), '{"old":true}');
    fillUp(dir);

    // The file's last block has room for part of the line: the write is short, then ENOSPC.
    await assert.rejects(appendLine(session, `${JSON.stringify({ t: 'turn', seq: 0, text: 'x'.repeat(64 * 1024) })}\n`), { code: 'ENOSPC' });
    assert.equal(readFileSync(session, 'utf8'), before, 'the refused record left nothing behind');

    await assert.rejects(createExclusive(join(dir, 'new.jsonl'), 'y'.repeat(8192)), { code: 'ENOSPC' });
    assert.throws(() => writeFileAtomic(join(dir, 'config.json'), 'z'.repeat(8192)), { code: 'ENOSPC' });
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), '{"old":true}', 'the old content stays');
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'filler', 'session.jsonl'], 'no temp file left');
  } finally {
    execFileSync('umount', [dir]);
    removeHome(dir);
  }
});
