import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { retryPause } from '../worker/messages/retry-pause.js';

const MODULE = fileURLToPath(new URL('../worker/messages/retry-pause.js', import.meta.url));

/**
 * A retry's pause must end when its time is up even while the garbage collector runs hard (a
 * pause built on AbortSignal.any with AbortSignal.timeout was collected and never ended). A
 * child process with --expose-gc collects every few milliseconds during a 200 ms pause.
 */
test('a retry pause ends on time under garbage-collector pressure', () => {
  const script = `
    import { EventEmitter } from 'node:events';
    const { retryPause } = await import(${JSON.stringify(MODULE)});
    const pressure = setInterval(() => { globalThis.gc(); const junk = []; for (let i = 0; i < 1e5; i++) junk.push({ i }); }, 5);
    const hung = setTimeout(() => { console.log('hung'); process.exit(1); }, 5000);
    await retryPause(200, new EventEmitter(), new AbortController().signal);
    clearInterval(pressure); clearTimeout(hung); console.log('resumed');`;
  const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.stdout.trim(), 'resumed', child.stderr);
  assert.equal(child.status, 0);
});

test('a retry pause ends early on a wake-up or when the worker stops', { timeout: 5000 }, async () => {
  const wake = new EventEmitter();
  const woken = retryPause(60_000, wake, new AbortController().signal);
  wake.emit('wake');
  await woken;
  const stop = new AbortController();
  const stopped = retryPause(60_000, new EventEmitter(), stop.signal);
  stop.abort();
  await stopped;
});
