import { existsSync } from 'node:fs';
import type { CAC } from 'cac';
import Tail from 'tail-file';
import { CliError, EXIT } from '../cli-error.js';
import { createPrettyFormatter } from '../log-format.js';
import { resolveLogFile } from '../log-file.js';
import { readLastLines } from '../log-reader.js';
import { intOption, loadTargetConfig, resolveTarget, type TargetOptions } from './common.js';

interface LogsOptions extends TargetOptions {
  lines?: unknown;
  follow?: boolean;
  json?: boolean;
}

const DEFAULT_LINES = 50;
const MAX_LINES = 100_000;
/** How long `--follow` waits for tail-file to let go of its watcher at the end. */
const STOP_TIMEOUT_MS = 1000;

/** `xopc gateway logs`: the newest lines of the gateway log, pretty or raw, optionally followed. */
export function registerLogs(cli: CAC): void {
  cli
    .command('logs', 'Show the newest lines of the gateway log')
    .option('-n, --lines <n>', `How many lines to show (default ${DEFAULT_LINES})`)
    .option('-f, --follow', 'Keep printing new lines, across log rotation (Ctrl+C to stop)')
    .option('--json', 'Print the raw JSON lines instead of pretty ones')
    .option('--config <path>', 'Config file (default: $XOPC_CONFIG or ~/.xopc/config.json)')
    .action((options: LogsOptions) => runLogs(options));
}

async function runLogs(options: LogsOptions): Promise<number> {
  const lines = intOption('lines', options.lines, 0, MAX_LINES) ?? DEFAULT_LINES;
  const target = resolveTarget(options);
  const { config } = loadTargetConfig(target);
  const file = resolveLogFile(config.logging, target.configPath);
  const maxFiles = config.logging.maxFiles;

  if (!existsSync(file) && !existsSync(`${file}.1`)) {
    console.error(`No log file yet at ${file} (the gateway creates it when it starts).`);
    return EXIT.OK;
  }

  const format = options.json ? (line: string) => line : createPrettyFormatter({ colorize: useColors() });
  const print = (line: string) => {
    if (line !== '') process.stdout.write(`${format(line)}\n`);
  };
  // `xopc gateway logs | head`: the reader went away (EPIPE), which is no reason for a stack trace.
  const stdoutClosed = new Promise<void>((resolve) => process.stdout.once('error', () => resolve()));

  if (!options.follow) {
    for (const line of await readLastLines(file, lines, maxFiles)) print(line);
    return EXIT.OK;
  }
  return follow(file, lines, maxFiles, print, stdoutClosed);
}

/**
 * Prints the last `lines` lines, then every new line until SIGINT/SIGTERM/SIGHUP.
 * tail-file keeps reading the old file to its end after a rename, then switches to
 * the new file at the same path and reads it from the start, so nothing is lost when
 * the gateway rotates. The tail starts first and the printed history ends exactly where
 * it started, so no line is printed twice or missed in between.
 */
async function follow(file: string, lines: number, maxFiles: number, print: (line: string) => void, stdoutClosed: Promise<void>): Promise<number> {
  const tail = new Tail(file, { startPos: 'end', sep: /\r?\n/ });
  let startOffset: number | undefined;
  tail.once('ready', () => {
    if (tail.started === file && typeof tail.pos === 'number') startOffset = tail.pos;
  });
  // Lines that arrive while the history is read are printed after it.
  let backlog: string[] | null = [];
  tail.on('line', (line) => (backlog ? backlog.push(line) : print(line)));
  let failure: Error | undefined;
  const failed = new Promise<void>((resolve) => tail.on('error', (err) => {
    failure = err;
    resolve();
  }));

  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  let onSignal!: () => void;
  const stopped = new Promise<void>((resolve) => (onSignal = resolve));
  for (const signal of signals) process.on(signal, onSignal);

  try {
    try {
      await tail.startP();
    } catch (err) {
      throw new CliError(`Cannot follow ${file}: ${(err as Error).message}`);
    }
    for (const line of await readLastLines(file, lines, maxFiles, {}, { endOffset: startOffset })) print(line);
    for (const line of backlog) print(line);
    backlog = null;

    await Promise.race([stopped, failed, stdoutClosed]);
    if (failure) throw new CliError(`Stopped following ${file}: ${failure.message}`);
    return EXIT.OK;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    await stopTail(tail);
  }
}

/** tail-file's stop() can wait forever when stopped mid-start: bound it, and never keep the process alive. */
async function stopTail(tail: Tail): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)));
  await Promise.race([tail.stop().catch(() => undefined), timeout]);
  clearTimeout(timer);
  // If a watcher or fd is still open after the bounded stop, leave anyway.
  setTimeout(() => process.exit(), STOP_TIMEOUT_MS).unref();
}

/** Colours for a terminal; NO_COLOR and FORCE_COLOR have their usual meaning. */
function useColors(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0';
  return process.stdout.isTTY === true && !env.NO_COLOR;
}
