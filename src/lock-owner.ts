import net from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { controlPath } from './control.js';
import { probeHealth } from './health-probe.js';
import { findListenerPids, isRunning, processInfo } from './proc.js';

/**
 * Finding a live gateway without trusting its lock file: when the lock cannot be read
 * (garbage, truncated, no pid), "not running" needs proof. Evidence, strongest first:
 * the config's control channel answers (and, on Linux, which process holds it); a
 * process in the process table is `xopc gateway` for this config; something listens on
 * the config's port. No evidence from any of them is what shows the owner is gone.
 */
export interface LiveGateway {
  /** The supervisor's pid when it could be told (null: something answers, but whose is unknown). */
  pid: number | null;
  /** How it was found, for messages. */
  how: string;
}

const CONNECT_TIMEOUT_MS = 1000;

/** Looks for a live gateway of `configPath` (absolute); `port`/`host` are the configured ones when known. */
export async function findLiveGateway(configPath: string, options: { port?: number | null; host?: string; env?: NodeJS.ProcessEnv } = {}): Promise<LiveGateway | null> {
  const env = options.env ?? process.env;
  const control = controlPath(configPath, env);
  if (await answers(control)) {
    return { pid: unixSocketOwners(control)[0] ?? null, how: `its control channel ${control} answers` };
  }
  const [serving] = servingGatewaysFor(configPath);
  if (serving) return { pid: serving, how: `process ${serving} is \`xopc gateway\` for this config and holds a listening socket` };
  const port = options.port ?? null;
  if (port && port > 0) {
    const listeners = findListenerPids(port).filter((pid) => pid !== process.pid);
    if (listeners.length > 0) {
      // The supervisor and its worker both hold the socket: name the one whose parent is not in the list.
      const root = listeners.find((pid) => !listeners.includes(processInfo(pid)?.ppid ?? -1)) ?? listeners[0]!;
      return { pid: root, how: `process ${root} listens on port ${port}` };
    }
    if (await probeHealth(options.host ?? '127.0.0.1', port)) return { pid: null, how: `something answers /health on port ${port}` };
  }
  return null;
}

/** Whether something accepts connections on this Unix socket or named pipe. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = net.connect(path);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(ok);
    };
    const timer = setTimeout(() => done(false), CONNECT_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Pids holding a listening Unix socket bound to `path` (Linux: /proc/net/unix and fds; elsewhere none). */
function unixSocketOwners(path: string): number[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return [];
  }
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path
    if (cols.length >= 8 && cols.slice(7).join(' ') === path) inodes.add(cols[6]!);
  }
  return inodes.size === 0 ? [] : pidsWithSockets(inodes);
}

function pidsWithSockets(inodes: Set<string>, among: number[] = numericEntries('/proc')): number[] {
  const pids: number[] = [];
  if (inodes.size === 0) return pids;
  for (const pid of among) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && inodes.has(match[1]!)) {
          pids.push(pid);
          break;
        }
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return pids;
}

/**
 * Supervisors in the process table running `xopc gateway` (no subcommand) for this
 * config (its `--config`, else its XOPC_CONFIG, else its state dir's config.json) that
 * hold a listening TCP socket, so serve or are about to: another `xopc gateway` still
 * starting (it has not bound) is no evidence. Linux only (reads /proc); elsewhere none.
 */
export function servingGatewaysFor(configPath: string): number[] {
  const found: number[] = [];
  const listening = listeningTcpInodes();
  for (const pid of numericEntries('/proc')) {
    if (pid === process.pid || !isRunning(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const at = argv.findIndex((arg) => /(^|[/\\])(cli\.js|xopc)$/.test(arg));
      if (at === -1 || argv[at + 1] !== 'gateway' || (argv[at + 2] !== undefined && !argv[at + 2]!.startsWith('-'))) continue;
      const environ = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => {
        const eq = entry.indexOf('=');
        return [entry.slice(0, eq), entry.slice(eq + 1)];
      }));
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const flag = argv.indexOf('--config', at);
      const inline = argv.find((arg) => arg.startsWith('--config='))?.slice('--config='.length);
      const given = flag !== -1 ? argv[flag + 1] : inline;
      const theirs = given
        ? resolve(cwd, given)
        : environ.XOPC_CONFIG
          ? resolve(cwd, environ.XOPC_CONFIG)
          : join(resolve(cwd, environ.XOPC_HOME || join(environ.HOME || homedir(), '.xopc')), 'config.json');
      if (theirs === configPath && pidsWithSockets(listening, [pid]).length > 0) found.push(pid);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

function listeningTcpInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === '0A') inodes.add(cols[9]!);
    }
  }
  return inodes;
}

function numericEntries(dir: string): number[] {
  try {
    return readdirSync(dir).filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}
