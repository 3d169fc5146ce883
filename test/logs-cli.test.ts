import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRotatingFile } from '../src/log-file.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
/** Upper bound for any wait on the child: generous for 2 busy cores, never reached when things work. */
const WAIT_MS = 10_000;

interface Home {
  dir: string;
  logFile: string;
}

function tempHome(t: { after: (fn: () => void) => void }, logLines?: string[]): Home {
  const dir = mkdtempSync(join(tmpdir(), 'xopc-logs-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'logs', 'gateway.log');
  if (logLines) {
    mkdirSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(logFile, logLines.map((line) => `${line}\n`).join(''));
  }
  return { dir, logFile };
}

function entry(i: number, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ level: 30, time: Date.UTC(2025, 0, 31, 12, 0, i), pid: 4242, proc: 'worker', component: 'http', msg: `line ${i}`, ...fields });
}

function start(home: Home, args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, XOPC_HOME: home.dir, NO_COLOR: '1', TZ: 'UTC', ...extraEnv };
  delete env.XOPC_CONFIG;
  if (!('FORCE_COLOR' in extraEnv)) delete env.FORCE_COLOR;
  return spawn(process.execPath, [CLI, 'gateway', 'logs', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function run(home: Home, args: string[], extraEnv?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(home, args, extraEnv);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('--lines N --json prints exactly the last N raw lines', async (t) => {
  const lines = Array.from({ length: 80 }, (_, i) => entry(i, { pad: 'x'.repeat(i * 50) }));
  const home = tempHome(t, lines);
  const result = await run(home, ['--lines', '7', '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, lines.slice(-7).map((line) => `${line}\n`).join(''));

  const byDefault = await run(home, ['--json']);
  assert.equal(byDefault.stdout.trimEnd().split('\n').length, 50, 'default is 50 lines');
});

test('pretty output by default, colours only when asked for', async (t) => {
  const home = tempHome(t, [entry(1), 'a plain line', entry(2, { level: 50, msg: 'send failed', chat: 'c 1', err: { message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' } })]);
  const plain = await run(home, ['-n', '5']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, [
    '12:00:01.000 INFO  worker[4242] http: line 1',
    'a plain line',
    '12:00:02.000 ERROR worker[4242] http: send failed err=boom chat="c 1"',
    '    Error: boom',
    '        at f (x.js:1:1)',
    '',
  ].join('\n'));
  const colored = await run(home, ['-n', '3'], { FORCE_COLOR: '1' });
  assert.match(colored.stdout, /\x1b\[31mERROR/);
});

test('bad --lines is a usage error; no log file is a clear message and exit 0', async (t) => {
  const home = tempHome(t);
  for (const bad of ['-1', 'abc', '2.5']) {
    const result = await run(home, [`--lines=${bad}`]);
    assert.equal(result.code, 2, bad);
    assert.match(result.stderr, /^❌ --lines must be an integer/, bad);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  }
  const missing = await run(home, []);
  assert.equal(missing.code, 0);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /^No log file yet at .*gateway\.log/);
});

test('--lines N prints N lines on the screen, also when an entry brings its stack', async (t) => {
  const withStack = (i: number) => entry(i, { level: 50, err: { message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)\n    at g (x.js:2:2)' } });
  const home = tempHome(t, [entry(1), withStack(2), entry(3), withStack(4)]);
  const result = await run(home, ['--lines', '5']);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trimEnd().split('\n'), [
    '12:00:03.000 INFO  worker[4242] http: line 3',
    '12:00:04.000 ERROR worker[4242] http: line 4 err=boom',
    '    Error: boom',
    '        at f (x.js:1:1)',
    '        at g (x.js:2:2)',
  ]);
});

test('--follow before the log file exists waits for it, then follows it', async (t) => {
  const home = tempHome(t);
  const child = start(home, ['--follow', '--json']);
  const exited = once(child, 'exit');
  const out = lineCollector(child);
  let stderr = '';
  const waiting = new Promise<void>((resolve) => child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    if (stderr.includes('Waiting for')) resolve();
  }));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await Promise.race([waiting, exited.then(() => assert.fail(`exited instead of waiting for the file: ${stderr}`))]);
  mkdirSync(join(home.dir, 'logs'), { recursive: true });
  writeFileSync(home.logFile, `${entry(1)}\n`);
  await out.waitFor(1);
  child.kill('SIGINT');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, stderr);
  assert.deepEqual(out.lines, [entry(1)]);
});

test('logging.file in the config is where logs are read from', async (t) => {
  const home = tempHome(t);
  writeFileSync(join(home.dir, 'config.json'), JSON.stringify({ logging: { file: 'custom/gw.log' } }));
  mkdirSync(join(home.dir, 'custom'));
  writeFileSync(join(home.dir, 'custom', 'gw.log'), `${entry(9)}\n`);
  const result = await run(home, ['--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${entry(9)}\n`);
});

/** Collects the child's stdout lines and lets a test wait for the n-th one. */
function lineCollector(child: ChildProcess): { lines: string[]; waitFor(count: number): Promise<void> } {
  const lines: string[] = [];
  let partial = '';
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const waiter of waiters.filter((w) => lines.length >= w.count)) waiter.resolve();
  });
  return {
    lines,
    waitFor(count) {
      if (lines.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} lines; got ${JSON.stringify(lines)}`)), WAIT_MS);
        waiters.push({ count, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
  };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`--follow prints new lines, survives a rotation, and ends with exit 0 on ${signal}`, async (t) => {
    const history = [entry(1), entry(2), entry(3)];
    const home = tempHome(t, history);
    const historyBytes = history.join('\n').length + 1;
    const lineBytes = entry(4).length + 1;
    // Room for two more lines, so the third write rotates gateway.log to gateway.log.1.
    const writer = createRotatingFile({ path: home.logFile, maxBytes: historyBytes + 2 * lineBytes, maxFiles: 3 });
    t.after(() => writer.close());

    const child = start(home, ['--follow', '--lines', '2', '--json']);
    const exited = once(child, 'exit');
    const out = lineCollector(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

    await out.waitFor(2);
    writer.write(`${entry(4)}\n`);
    await out.waitFor(3);
    // Written back to back: 5 is the old file's last line, 6 triggers the rotation and opens the new file.
    writer.write(`${entry(5)}\n`);
    writer.write(`${entry(6)}\n`);
    await out.waitFor(5);
    writer.write(`${entry(7)}\n`);
    await out.waitFor(6);

    child.kill(signal);
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, stderr);
    assert.deepEqual(out.lines, [entry(2), entry(3), entry(4), entry(5), entry(6), entry(7)]);
  });
}
