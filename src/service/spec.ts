import { accessSync, constants, openSync, readSync, closeSync, realpathSync, statSync } from 'node:fs';
import { delimiter, join, posix, resolve, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT } from '../cli-error.js';

/** How the service runs the gateway: `node <cli.js>` or a standalone `xopc` executable. */
export type Runtime = 'node' | 'binary';

/**
 * Everything a platform needs to run the gateway; each platform renders it into its own
 * format (unit, plist, task XML) and adds its own `XOPC_SERVICE_MARKER`.
 */
export interface ServiceSpec {
  /** Absolute path of the executable. */
  program: string;
  args: string[];
  workingDir: string;
  /** Extra environment (never the token: the gateway reads it from the config file). */
  env: Record<string, string>;
  /** How long the manager waits after SIGTERM before it kills: longer than the drain. */
  stopTimeoutSec: number;
  /** Where a manager that captures stdout/stderr into files (launchd, Windows) writes them. */
  logDir: string;
  port: number;
  host: string;
}

export interface SpecInput {
  runtime: Runtime;
  port: number;
  /** Only when given to `install`; otherwise the config's host applies at every start. */
  host?: string;
  /** Absolute config path, when it is not the default one (the service has no XOPC_CONFIG). */
  configPath?: string;
  /** The host the gateway will bind (flag or config), for the URL. */
  effectiveHost: string;
  drainTimeoutMs: number;
  home: string;
  logDir: string;
  env: NodeJS.ProcessEnv;
  /** The node binary running this CLI. */
  execPath?: string;
  /** The built CLI entry (dist/src/cli.js). */
  cliPath?: string;
  platform?: NodeJS.Platform;
}

export interface BuiltSpec {
  spec: ServiceSpec;
  warnings: string[];
}

/** The built CLI entry point, next to this module's parent folder: dist/src/cli.js. */
export function defaultCliPath(): string {
  return fileURLToPath(new URL('../cli.js', import.meta.url));
}

// nvm, fnm, volta, asdf and npx keep node or packages under per-version or cache paths.
const VOLATILE_PATH = /[\\/](\.nvm|\.fnm|fnm_multishells|\.volta|\.asdf|_npx)[\\/]/;

// Margin over the drain for the supervisor to stop the worker, release the lock and exit.
const STOP_MARGIN_SEC = 10;

/** Builds the command line and environment the service manager will use. */
export function buildServiceSpec(input: SpecInput): BuiltSpec {
  const warnings: string[] = [];
  const platform = input.platform ?? process.platform;
  const paths = platform === 'win32' ? win32 : posix;
  let program: string;
  const args: string[] = [];
  if (input.runtime === 'node') {
    program = input.execPath ?? process.execPath;
    args.push(input.cliPath ?? defaultCliPath());
    const fragile = [program, args[0]!].find((path) => VOLATILE_PATH.test(path));
    if (fragile) warnings.push(`${fragile} belongs to a version manager or a temporary npx cache: the service breaks when it goes away; install xopc globally or run install again after switching versions.`);
  } else {
    const found = findOnPath('xopc', input.env, platform);
    if (!found) {
      throw new CliError('--runtime binary: no `xopc` executable found on PATH. Put a standalone xopc on PATH, or use --runtime node.', EXIT.FAILURE);
    }
    program = found;
    if (isScript(found)) {
      warnings.push(`${found} is a script, not a standalone binary: the service manager runs it with its own PATH, which may not find the interpreter (--runtime node avoids that).`);
    }
  }
  args.push('gateway', '--port', String(input.port));
  if (input.host !== undefined) args.push('--host', input.host);
  if (input.configPath !== undefined) args.push('--config', input.configPath);

  const env: Record<string, string> = { XOPC_ALLOW_SIGUSR1_RESTART: '1' };
  if (input.env.XOPC_HOME) env.XOPC_HOME = paths.resolve(input.env.XOPC_HOME);
  if (input.env.XOPC_GATEWAY_TOKEN) {
    warnings.push('XOPC_GATEWAY_TOKEN is set in this shell but the service does not inherit it: the service uses the token in the config file (set it with --token).');
  }

  const spec: ServiceSpec = {
    program,
    args,
    workingDir: input.home,
    env,
    stopTimeoutSec: Math.ceil(input.drainTimeoutMs / 1000) + STOP_MARGIN_SEC,
    logDir: input.logDir,
    port: input.port,
    host: input.effectiveHost,
  };
  assertSpecValues(spec);
  if (!paths.isAbsolute(spec.program)) throw new CliError(`program path must be absolute (got ${spec.program})`);
  return { spec, warnings };
}

/**
 * Unit files, plists and task XML are line- or markup-based: a newline or control
 * character in a value would end the line early or inject a directive, so refuse them.
 */
export function assertServiceValue(name: string, value: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new CliError(`${name} must not contain newlines or control characters`, EXIT.USAGE);
  }
}

function assertSpecValues(spec: ServiceSpec): void {
  assertServiceValue('program path', spec.program);
  spec.args.forEach((arg) => assertServiceValue(`argument ${JSON.stringify(arg.slice(0, 40))}`, arg));
  assertServiceValue('working directory', spec.workingDir);
  for (const [key, value] of Object.entries(spec.env)) assertServiceValue(key, value);
}

/** The first executable called `name` on PATH (PATHEXT on Windows), as an absolute path. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string | null {
  const dirs = (env.PATH ?? env.Path ?? '').split(platform === 'win32' ? ';' : delimiter).filter(Boolean);
  const exts = platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').filter(Boolean) : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = resolve(join(dir, name + ext));
      try {
        if (!statSync(candidate).isFile()) continue;
        if (platform !== 'win32') accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        /* not here */
      }
    }
  }
  return null;
}

function isScript(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(realpathSync(path), 'r');
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    return head.toString() === '#!';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
