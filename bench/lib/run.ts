import { machineLine } from './stats.js';

type Cleanup = () => unknown;
const cleanups: Cleanup[] = [];

/** Registers something to undo when the benchmark ends, however it ends (last registered runs first). */
export function onCleanup(cleanup: Cleanup): void {
  cleanups.unshift(cleanup);
}

async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) {
    try {
      await cleanup();
    } catch (err) {
      console.error('cleanup failed:', err);
    }
  }
}

/**
 * Runs one benchmark: prints its name and the machine, bounds it in time (past `maxMs`
 * it stops everything it started and exits 2) and cleans up on success, failure and Ctrl+C.
 */
export async function runBench(name: string, maxMs: number, main: () => Promise<void>): Promise<void> {
  console.log(`## ${name}\n`);
  console.log(`${machineLine()}\n`);
  const started = Date.now();
  const bound = setTimeout(() => {
    console.error(`\n${name}: still running after ${Math.round(maxMs / 1000)} s (the bound); stopping what it started`);
    void cleanUp().finally(() => process.exit(2));
  }, maxMs);
  const interrupted = () => {
    console.error(`\n${name}: interrupted; stopping what it started`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await main();
  } catch (err) {
    console.error(`${name} failed:`, err);
    process.exitCode = 1;
  } finally {
    await cleanUp();
    clearTimeout(bound);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    console.log(`\n(${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

/** `--name=value` from the command line, else `BENCH_NAME` from the environment, else the default. */
export function numberArg(name: string, fallback: number): number {
  const text = stringArg(name, String(fallback));
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number (got "${text}")`);
  return value;
}

export function stringArg(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  const fromArgv = process.argv.slice(2).find((arg) => arg.startsWith(prefix));
  if (fromArgv) return fromArgv.slice(prefix.length);
  const fromEnv = process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  return fromEnv ?? fallback;
}

/** True for `--quick`: every benchmark's smoke-test size (seconds, not minutes; numbers not for the record). */
export function quick(): boolean {
  return process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
}
