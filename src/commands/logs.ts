import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, EXIT } from '../cli-error.js';
import { loadConfig } from '../config.js';
import { createPrettyFormatter } from '../log-format.js';
import { resolveLogFile } from '../log-file.js';
import type { LogFollower } from '../log-follow.js';
import { readLastLines } from '../log-reader.js';
import { configPath as resolveConfigPath } from '../paths.js';
import { intOption } from './options.js';
import type { TargetOptions } from './common.js';

export interface LogsOptions extends TargetOptions {
  lines?: unknown;
  follow?: boolean;
  json?: boolean;
}

const DEFAULT_LINES = 50;
const MAX_LINES = 100_000;
/** After `--follow` ends, how long the process may take to wind down before it exits regardless. */
const EXIT_GRACE_MS = 1000;
/** How often `--follow` looks for a log file that does not exist yet. */
const FILE_POLL_MS = 250;

/** `xopc gateway logs`: the newest lines of the gateway log, pretty or raw, optionally followed. */
export async function showLogs(options: LogsOptions): Promise<number> {
  const lines = intOption('lines', options.lines, 0, MAX_LINES) ?? DEFAULT_LINES;
  // The lock does not matter here: the log is read whether a gateway runs or not.
  const configPath = resolveConfigPath(options.config);
  const { config } = loadConfig(configPath);
  const file = resolveLogFile(config.logging, configPath);
  const maxFiles = config.logging.maxFiles;

  const missing = () => !existsSync(file) && !existsSync(`${file}.1`);
  if (missing() && !options.follow) {
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
    // N lines on the screen: an entry pretty-printed with its stack takes several.
    const printed = (await readLastLines(file, lines, maxFiles)).filter((line) => line !== '').flatMap((line) => format(line).split('\n'));
    for (const line of lines === 0 ? [] : printed.slice(-lines)) process.stdout.write(`${line}\n`);
    return EXIT.OK;
  }
  return follow(file, lines, maxFiles, print, stdoutClosed, missing);
}

/** Prints the last `lines` lines, then every new line until SIGINT/SIGTERM/SIGHUP or a closed stdout. */
async function follow(file: string, lines: number, maxFiles: number, print: (line: string) => void, stdoutClosed: Promise<void>, missing: () => boolean): Promise<number> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  let onSignal!: () => void;
  let ended = false;
  const stopped = new Promise<void>((resolve) => (onSignal = () => resolve()));
  void Promise.race([stopped, stdoutClosed]).then(() => (ended = true));
  for (const signal of signals) process.on(signal, onSignal);
  try {
    if (missing()) {
      // Started before the gateway ever ran: wait for the file rather than end at once.
      console.error(`Waiting for ${file} (the gateway creates it when it starts; Ctrl+C to stop)...`);
      while (missing() && !ended) await Promise.race([sleep(FILE_POLL_MS), stopped, stdoutClosed]);
      if (ended) return EXIT.OK;
    }
    // tail-file (a watcher) only for --follow.
    const { followLog } = await import('../log-follow.js');
    let follower: LogFollower;
    try {
      follower = await followLog(file, { lines, maxFiles, onLine: print });
    } catch (err) {
      throw new CliError(`Cannot follow ${file}: ${(err as Error).message}`);
    }
    const failure = await Promise.race([stopped, stdoutClosed, follower.failed]);
    await follower.stop();
    if (failure) throw new CliError(`Stopped following ${file}: ${failure.message}`);
    return EXIT.OK;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    // Should tail-file still hold a watcher after its bounded stop, leave anyway.
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  }
}

/** Colours for a terminal; NO_COLOR and FORCE_COLOR have their usual meaning. */
function useColors(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0';
  return process.stdout.isTTY === true && !env.NO_COLOR;
}
