import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, childEnv, removeHome, tempHome } from './helpers/gateway.js';

// What a command loads is most of what it costs to start (and, for the supervisor, to
// keep): these pin down which modules each process may load at all.
const RECORDER = new URL('./fixtures/import-recorder.js', import.meta.url).href;
/** Upper bound for the gateway to start and stop on 2 busy cores; never reached when things work. */
const WAIT_MS = 20_000;

/** Runs the CLI with module hooks that write every URL it resolves to a file; resolves with those URLs once it exits. */
async function importsOf(home: string, args: string[], untilOutput?: RegExp): Promise<string[]> {
  const file = join(home, 'imports.txt');
  writeFileSync(file, '');
  const preload = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(RECORDER)}, { data: { file: ${JSON.stringify(file)} } });`;
  const proc = spawn(process.execPath, ['--import', preload, CLI, ...args], { env: childEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (chunk) => {
    out += chunk;
    if (untilOutput?.test(out)) proc.kill('SIGTERM');
  });
  proc.stderr.on('data', (chunk) => (out += chunk));
  const timer = setTimeout(() => proc.kill('SIGKILL'), WAIT_MS);
  const [code] = await once(proc, 'exit');
  clearTimeout(timer);
  assert.equal(code, 0, out);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const packagesIn = (urls: string[]) => [...new Set(urls.flatMap((url) => /\/node_modules\/((@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []))];
/** Packages that belong to the worker or to other commands: a supervisor or a `logs` run that loads one pays for it. */
const HEAVY = ['@valibot/to-json-schema', 'koa', '@koa/router', 'koa-bodyparser', 'grammy', 'croner', '@mariozechner/pi-ai', 'tail-file', 'prom-client'];
const ours = (urls: string[], folder: string) => urls.filter((url) => url.includes(`/dist/${folder}/`));

test('`xopc gateway logs` loads neither the supervisor, the service managers, the log follower nor any package but cac and the config validator', async (t) => {
  const home = tempHome();
  t.after(() => removeHome(home));
  mkdirSync(join(home, 'logs'));
  writeFileSync(join(home, 'logs', 'gateway.log'), `${JSON.stringify({ level: 30, time: Date.now(), msg: 'hello' })}\n`);
  const urls = await importsOf(home, ['gateway', 'logs', '--lines', '5']);
  assert.ok(urls.some((url) => url.endsWith('/commands/logs.js')), 'recorded');
  assert.deepEqual(packagesIn(urls).filter((name) => name !== 'cac' && name !== 'valibot'), []);
  assert.deepEqual(ours(urls, 'supervisor'), []);
  assert.deepEqual(urls.filter((url) => /\/(service|log-follow|lock)\b/.test(url)), []);
});

test('the supervisor loads no worker module, and none of the worker packages', async (t) => {
  const home = tempHome();
  t.after(() => removeHome(home));
  const urls = await importsOf(home, ['gateway', '--port', '0', '--host', '127.0.0.1'], /Gateway listening/);
  assert.ok(ours(urls, 'supervisor').length > 0, 'recorded');
  assert.deepEqual(ours(urls, 'worker'), []);
  assert.deepEqual(packagesIn(urls).filter((name) => HEAVY.includes(name)), []);
});

test('`xopc config get` loads neither the supervisor nor the worker, and no package but cac and the config validator', async (t) => {
  const home = tempHome();
  t.after(() => removeHome(home));
  writeFileSync(join(home, 'config.json'), JSON.stringify({ gateway: { port: 8080 } }));
  const urls = await importsOf(home, ['config', 'get', 'gateway.port']);
  assert.ok(urls.some((url) => url.endsWith('/commands/config-read.js')), 'recorded');
  assert.deepEqual(packagesIn(urls).filter((name) => name !== 'cac' && name !== 'valibot'), []);
  assert.deepEqual([...ours(urls, 'supervisor'), ...ours(urls, 'worker')], []);
});
