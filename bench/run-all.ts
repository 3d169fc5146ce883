/**
 * Runs every benchmark one after the other, each in its own process and bounded by its own
 * time limit; `--quick` (passed on) gives every one its smoke-test size. Exits non-zero if
 * any failed, after running the rest.
 *
 *   npm run bench:all [-- --quick] | tee bench-results.md
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { machineLine } from './lib/stats.js';

const BENCHMARKS = [
  'http-throughput',
  'restart-load',
  'crash-load',
  'cold-start',
  'memory',
  'logs',
  'sessions-load',
  'sessions-list',
  'agent-overhead',
  'openai-overhead',
];

const passOn = process.argv.slice(2).filter((arg) => arg === '--quick');
// The three older benchmarks take positional sizes; --quick means smaller ones.
const QUICK_SIZES: Record<string, string[]> = { 'sessions-load': ['2000', '100'], 'sessions-list': ['2000'], 'agent-overhead': ['50'], 'openai-overhead': ['50'] };

const failed: string[] = [];
const started = Date.now();
for (const name of BENCHMARKS) {
  const script = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  const args = passOn.length > 0 ? (QUICK_SIZES[name] ?? passOn) : [];
  // The older three print no header of their own.
  if (name in QUICK_SIZES) console.log(`\n## ${name}${args.length ? ` (quick sizes: ${args.join(' ')})` : ''}\n\n${machineLine()}\n`);
  else console.log('');
  const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
  const [code] = await once(child, 'exit');
  if (code !== 0) failed.push(`${name} (exit ${code})`);
}
console.log(`\nall benchmarks: ${((Date.now() - started) / 60_000).toFixed(1)} min${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`);
process.exitCode = failed.length ? 1 : 0;
