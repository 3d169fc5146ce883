import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DESTINATION = fileURLToPath(new URL('../worker/log-destination.js', import.meta.url));

/** A child process that logs through the worker's destination to its stdout pipe. */
function child(script: string) {
  const source = `import { createPipeDestination } from ${JSON.stringify(DESTINATION)};\nconst d = createPipeDestination();\nprocess.on('exit', () => d.flushSync());\n${script}`;
  return spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
}

test('lines reach the pipe whole and in order, including those of the last tick before exit', async () => {
  const proc = child(`
    for (let i = 0; i < 5000; i++) d.write(JSON.stringify({ i }) + '\\n');
    await new Promise((r) => setImmediate(r));
    for (let i = 5000; i < 5100; i++) d.write(JSON.stringify({ i }) + '\\n');
    process.exit(0);
  `);
  let out = '';
  proc.stdout.on('data', (chunk: Buffer) => (out += chunk));
  const [code] = await once(proc, 'exit');
  assert.equal(code, 0);
  const lines = out.trim().split('\n').map((line) => (JSON.parse(line) as { i: number }).i);
  assert.deepEqual(lines, Array.from({ length: 5100 }, (_, i) => i));
});

test('a reader that went away (EPIPE) drops lines and never holds up the exit', async () => {
  const proc = child(`
    d.write('{"first":true}\\n');
    process.stdin.resume();
    setTimeout(() => {
      for (let i = 0; i < 2000; i++) d.write(JSON.stringify({ i, pad: 'x'.repeat(200) }) + '\\n');
      setTimeout(() => {
        d.write('{"after":true}\\n');
        process.stderr.write('broken=' + d.broken + '\\n');
        process.exit(0);
      }, 100);
    }, 300);
  `);
  let err = '';
  proc.stderr.on('data', (chunk: Buffer) => (err += chunk));
  await once(proc.stdout, 'data');
  proc.stdout.destroy();
  const exited = once(proc, 'exit');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.equal(signal, null, `the child hung and was killed; stderr: ${err}`);
  assert.equal(code, 0, err);
  assert.match(err, /broken=true/);
});
