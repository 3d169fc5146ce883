// Bundles the web page (ui/) into dist/ui: index.html plus content-hashed assets, each
// with precompressed .br and .gz copies that the worker serves as they are.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
// An argument names the build folder (scripts/build.js builds beside dist/, then swaps).
const out = join(process.argv[2] ?? join(root, 'dist'), 'ui');
const assets = join(out, 'assets');
// Only this build's hashed files: older ones would be served forever and never cleaned.
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: { main: join(root, 'ui/src/main.ts'), styles: join(root, 'ui/src/styles.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  outdir: assets,
  entryNames: '[name]-[hash]',
  // The Markdown renderer is its own chunk, loaded after the first view (ui/src/markdown-lazy.ts).
  splitting: true,
  chunkNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  tsconfig: join(root, 'ui/tsconfig.json'),
  logLevel: 'warning',
});

const assetName = (file) => file.replace(/^.*\/assets\//, '');
const built = Object.entries(result.metafile.outputs).map(([file, info]) => ({ file: assetName(file), entry: info.entryPoint ?? '', info }));
const entry = (source) => built.find((output) => output.entry.endsWith(source))?.file;
// The chunks the entry script imports statically (shared with the views loaded later: Lit
// above all). The browser would find them only after fetching and parsing the entry, one
// round trip later; the HTML names them so that they are fetched alongside it.
const staticImports = (name, seen = new Set()) => {
  for (const imported of built.find((output) => output.file === name)?.info.imports ?? []) {
    const file = assetName(imported.path);
    if (imported.kind === 'import-statement' && !seen.has(file)) {
      seen.add(file);
      staticImports(file, seen);
    }
  }
  return seen;
};
const mainScript = entry('ui/src/main.ts');
const preloads = [...staticImports(mainScript)].map((file) => `<link rel="modulepreload" href="/assets/${file}">`).join('\n');
const icon = readFileSync(join(root, 'ui/icon.svg'));
const iconName = `icon-${createHash('sha256').update(icon).digest('hex').slice(0, 10).toUpperCase()}.svg`;
writeFileSync(join(assets, iconName), icon);

const page = readFileSync(join(root, 'ui/index.html'), 'utf8')
  .replace('%JS%', `/assets/${mainScript}`)
  .replace('%PRELOAD%', preloads)
  .replace('%CSS%', `/assets/${entry('ui/src/styles.css')}`)
  .replace('%ICON%', `/assets/${iconName}`);
writeFileSync(join(out, 'index.html'), page);

for (const file of [join(out, 'index.html'), ...readdirSync(assets).map((f) => join(assets, f))]) {
  const raw = readFileSync(file);
  const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
  const gz = gzipSync(raw, { level: 9 });
  if (br.length < raw.length) writeFileSync(`${file}.br`, br);
  if (gz.length < raw.length) writeFileSync(`${file}.gz`, gz);
}
