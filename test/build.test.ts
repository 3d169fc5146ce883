import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, healthOk, removeHome, tempHome, waitUntil } from './helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A copy of this checkout (sources, build script, and the dist/ of the current build) in a
 * temp dir: the test rebuilds it without touching the repository. Only the gateway's own
 * code is compiled there, which is what a running gateway loads.
 */
function copyCheckout(dir: string): string {
  const copy = join(dir, 'checkout');
  mkdirSync(copy);
  for (const name of ['package.json', 'scripts', 'src', 'supervisor', 'worker', 'ui']) cpSync(join(ROOT, name), join(copy, name), { recursive: true });
  writeFileSync(join(copy, 'tsconfig.json'), JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { rootDir: '.', outDir: 'dist' }, include: ['src/**/*.ts', 'supervisor/**/*.ts', 'worker/**/*.ts'] }));
  for (const name of ['src', 'supervisor', 'worker', 'ui']) cpSync(join(ROOT, 'dist', name), join(copy, 'dist', name), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  // A compiled file whose source is gone must not survive the build.
  writeFileSync(join(copy, 'dist', 'src', 'deleted-long-ago.js'), '');
  return copy;
}

test('npm run build never leaves dist/ half-built: a running gateway and the CLI keep working during a rebuild', { timeout: 240_000 }, async () => {
  const dir = tempHome('xopc-build-');
  const home = join(dir, 'home');
  mkdirSync(home);
  const copy = copyCheckout(dir);
  const cli = join(copy, 'dist', 'src', 'cli.js');
  const env = childEnv(home, { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' });
  const gateway = spawn(process.execPath, [cli, 'gateway', '--port', '0', '--host', '127.0.0.1'], { env, stdio: 'ignore' });
  // Asynchronous, so the build's exit is seen between two runs.
  const xopc = (...args: string[]) =>
    promisify(execFile)(process.execPath, [cli, ...args], { env, timeout: 30_000 }).then(
      ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ status: err.code ?? null, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    );
  try {
    await waitUntil(async () => (await xopc('gateway', 'status')).status === 0, 15_000, 'the gateway to serve');

    const build = spawn('npm', ['run', 'build'], { cwd: copy, stdio: 'ignore' });
    const built = new Promise<number | null>((resolve) => build.once('exit', (code) => resolve(code)));
    let buildCode: number | null | undefined;
    void built.then((code) => (buildCode = code));
    // Every command run while the build is under way finds its modules.
    let runs = 0;
    while (buildCode === undefined) {
      // Every module found, and the gateway seen running (on a loaded machine its /health
      // may be slow to answer: "unresponsive", exit 1, is still a CLI that ran).
      const status = await xopc('gateway', 'status', '--json');
      const what = `status during the build (run ${runs + 1}):\n${status.stdout}${status.stderr}`;
      assert.doesNotMatch(status.stderr, /Cannot find module|ERR_MODULE_NOT_FOUND|Unexpected error/, what);
      assert.equal((JSON.parse(status.stdout) as { running: boolean }).running, true, what);
      runs++;
      // Paced, so the build gets the CPU it needs.
      await sleep(200);
    }
    assert.equal(buildCode, 0, 'the build succeeded');
    assert.ok(runs > 0);
    assert.ok(!existsSync(join(copy, 'dist', 'src', 'deleted-long-ago.js')), 'a stale compiled file is removed');
    assert.deepEqual(readdirSync(copy).filter((name) => name.startsWith('.dist-')), [], 'no build folder left behind');

    // The running gateway starts its new worker from the rebuilt dist/.
    const restart = await xopc('gateway', 'restart');
    assert.equal(restart.status, 0, restart.stdout + restart.stderr);
    const port = (JSON.parse((await xopc('gateway', 'status', '--json')).stdout) as { port: number }).port;
    assert.ok(await healthOk(port));
  } finally {
    gateway.kill('SIGTERM');
    await new Promise((resolve) => (gateway.exitCode !== null ? resolve(null) : gateway.once('exit', resolve)));
    removeHome(dir);
  }
});
