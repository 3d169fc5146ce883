import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The built CLI (dist/src/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** A fresh state dir for one test. */
export function tempHome(prefix = 'xopc-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

// Variables that would change how the gateway behaves (service-manager hints make every
// restart "supervised"); tests set what they need explicitly.
const SCRUBBED_ENV = ['INVOCATION_ID', 'JOURNAL_STREAM', 'LAUNCH_JOB_LABEL', 'XOPC_SERVICE_MARKER', 'XOPC_NO_RESPAWN', 'XOPC_ALLOW_SIGUSR1_RESTART', 'XOPC_CONFIG', 'XOPC_GATEWAY_TOKEN', 'XOPC_WORKER_SCRIPT', 'NODE_OPTIONS', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'];

/** The environment for a gateway or CLI child: this process's, scrubbed, with XOPC_HOME and extras. */
export function childEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of SCRUBBED_ENV) delete env[key];
  return { ...env, XOPC_HOME: home, ...extra };
}

export interface LockJson {
  pid: number;
  port?: number;
  host?: string;
  workerPid?: number | null;
  /** The loaded standby worker (gateway.worker.standby). */
  standbyPid?: number | null;
  startTime: number | null;
  configPath: string;
  /** The control channel's path. */
  control?: string;
}

export interface StartOptions {
  home?: string;
  /** Written to <home>/config.json (or `configPath`) before start. */
  config?: Record<string, unknown>;
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra CLI args after `gateway` (default: `--port 0 --host 127.0.0.1`). */
  args?: string[];
  /** Resolve once the process exits instead of waiting for ready (for start-up failures). */
  expectExit?: boolean;
  readyTimeoutMs?: number;
  /** Another build's CLI (a benchmark compares builds); default: this one's. */
  cli?: string;
}

export interface Gateway {
  home: string;
  configPath: string;
  proc: ChildProcess;
  /** The first supervisor's pid (a respawn restart replaces it; see lock()). */
  pid: number;
  port: number;
  token: string;
  url(path?: string): string;
  /** Combined stdout+stderr so far. */
  output(): string;
  lock(): LockJson | null;
  /** Resolves when the first supervisor process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until the lock names a ready worker other than `exceptWorkerPid` (and, if given, a supervisor other than `exceptPid`). */
  waitForServing(options?: { exceptWorkerPid?: number; exceptPid?: number; pid?: number; timeoutMs?: number }): Promise<LockJson>;
  /** Stops everything this gateway started (SIGTERM, then SIGKILL), including respawned supervisors. */
  stop(): Promise<void>;
}

/** The lock JSON of the gateway for `configPath` in `home`, or null (none, or being written). */
function readLockFor(home: string, configPath: string): LockJson | null {
  const dir = join(home, 'locks');
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.lock'));
  } catch {
    return null;
  }
  for (const file of files) {
    try {
      const info = JSON.parse(readFileSync(join(dir, file), 'utf8')) as LockJson;
      if (resolve(info.configPath) === resolve(configPath)) return info;
    } catch {
      /* empty or being replaced */
    }
  }
  return null;
}

export function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Polls `check` every 25 ms until it returns a truthy value or the timeout passes. */
export async function waitUntil<T>(check: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * GET /health on a connection of its own that is closed afterwards: a pooled keep-alive
 * connection would hold a draining worker until its keep-alive timeout.
 */
export function healthOk(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, headers: { connection: 'close' }, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolvePromise(false));
  });
}

/** Starts `xopc gateway` as a real child process with a temp XOPC_HOME and waits until it serves. */
export async function startGateway(options: StartOptions = {}): Promise<Gateway> {
  const home = options.home ?? tempHome();
  mkdirSync(home, { recursive: true });
  const configPath = options.configPath ?? join(home, 'config.json');
  if (options.config) writeFileSync(configPath, JSON.stringify(options.config, null, 2), { mode: 0o600 });
  const args = [options.cli ?? CLI, 'gateway', ...(options.args ?? ['--port', '0', '--host', '127.0.0.1'])];
  if (options.configPath) args.push('--config', configPath);
  const proc = spawn(process.execPath, args, { env: childEnv(home, options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  const seenPids = new Set<number>([proc.pid!]);
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const lock = () => {
    const info = readLockFor(home, configPath);
    // Only locks a gateway wrote (they name a worker); a test may plant a fake one naming any pid.
    if (info?.workerPid && info.pid !== process.pid) {
      seenPids.add(info.pid);
      seenPids.add(info.workerPid);
      if (info.standbyPid) seenPids.add(info.standbyPid);
    }
    return info;
  };

  const gateway: Gateway = {
    home,
    configPath,
    proc,
    pid: proc.pid!,
    port: 0,
    token: '',
    url: (path = '/') => `http://127.0.0.1:${gateway.port}${path}`,
    output: () => out,
    lock,
    exited,
    async waitForServing({ exceptWorkerPid, exceptPid, pid, timeoutMs = 15_000 } = {}) {
      return waitUntil(async () => {
        const info = lock();
        if (!info?.workerPid || !info.port) return null;
        if (pid && info.pid !== pid) return null;
        if (exceptWorkerPid && info.workerPid === exceptWorkerPid) return null;
        if (exceptPid && info.pid === exceptPid) return null;
        return (await healthOk(info.port)) ? info : null;
      }, timeoutMs, `a serving gateway in ${home}\n--- output ---\n${out}`);
    },
    async stop() {
      lock();
      for (const pid of seenPids) if (alive(pid)) process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline && [...seenPids].some(alive)) await sleep(50);
      for (const pid of seenPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      if (!hasExited) await exited;
    },
  };

  if (options.expectExit) {
    await exited;
    return gateway;
  }
  const info = await Promise.race([
    // This very process, not another gateway that still holds the lock (a --force start).
    gateway.waitForServing({ pid: proc.pid, timeoutMs: options.readyTimeoutMs ?? 15_000 }),
    exited.then(({ code }) => {
      throw new Error(`gateway exited with code ${code} before serving:\n${out}`);
    }),
  ]);
  gateway.port = info.port!;
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { gateway?: { auth?: { token?: string } } };
  gateway.token = options.env?.XOPC_GATEWAY_TOKEN ?? config.gateway?.auth?.token ?? '';
  const tokenArg = args.indexOf('--token');
  if (tokenArg !== -1) gateway.token = args[tokenArg + 1]!;
  return gateway;
}

/** Runs the CLI to completion; resolves with its exit code and output. */
export function runCli(home: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: childEnv(home, options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`xopc ${args.join(' ')} did not finish in time:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Removes a temp home (best effort). */
export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}
