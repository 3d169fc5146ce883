// `npm run build`: compiles into a fresh folder beside dist/, then swaps it in with two
// renames. dist/ is never half-built: a gateway or a test run started from this checkout
// keeps finding every module while a rebuild (`npm link`, `npm install` -> prepare) runs,
// and a deleted source file's compiled copy (a test above all, which
// `node --test dist/test/*.test.js` would still run) does not survive the build.
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const fresh = join(root, `.dist-build-${process.pid}`);
const old = join(root, `.dist-old-${process.pid}`);

// Leftovers of an interrupted build; a build still running elsewhere keeps its own.
for (const name of readdirSync(root)) {
  const match = /^\.dist-(build|old)-(\d+)$/.exec(name);
  if (match && !isAlive(Number(match[2]))) rmSync(join(root, name), { recursive: true, force: true });
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', fresh], { stdio: 'inherit' });
if (compiled.status !== 0) {
  rmSync(fresh, { recursive: true, force: true });
  process.exit(compiled.status ?? 1);
}
// The web page: type-checked, then bundled into the same fresh folder.
for (const [script, args] of [[tsc, ['-p', join(root, 'ui', 'tsconfig.json')]], [join(root, 'scripts', 'build-ui.js'), [fresh]]]) {
  const step = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
  if (step.status !== 0) {
    rmSync(fresh, { recursive: true, force: true });
    process.exit(step.status ?? 1);
  }
}
// `bin.xopc` must be executable after `npm install` / `npm link`.
chmodSync(join(fresh, 'src', 'cli.js'), 0o755);

// The swap: paths stay the same, so a running process's later imports find the new files.
// A concurrent build may swap between our two renames: then try again.
for (let attempt = 0; ; attempt++) {
  try {
    renameSync(dist, old);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  try {
    renameSync(fresh, dist);
    break;
  } catch (err) {
    if ((err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') || attempt >= 10) throw err;
  }
}
rmSync(old, { recursive: true, force: true });

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}
