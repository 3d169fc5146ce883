import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may itself hold spaces and parens). */
function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or
 * null where /proc is not there. Two processes that reuse a pid never share it.
 */
export function processStartTime(pid: number): number | null {
  const fields = procStat(pid);
  // Field 22 overall is index 19 once pid (1), comm (2) are dropped and state is index 0.
  return fields ? Number(fields[19]) : null;
}

/** Parent pid from /proc, or null. A zombie counts as dead for our purposes. */
export function processInfo(pid: number): { ppid: number; state: string } | null {
  const fields = procStat(pid);
  return fields ? { state: fields[0]!, ppid: Number(fields[1]) } : null;
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const info = processInfo(pid);
  return !info || info.state !== 'Z';
}

/** Waits until the pid is gone, polling every 25 ms; resolves true if it exited within `ms`. */
export async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await sleep(25);
  }
  return !isRunning(pid);
}

/** Sends a signal, ignoring "no such process". */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pids of processes that hold a listening TCP socket on `port`. Linux reads
 * /proc/net/tcp{,6} for the socket inode and /proc/<pid>/fd for its owners;
 * elsewhere it asks lsof. Returns [] when nothing (visible to us) listens.
 */
export function findListenerPids(port: number): number[] {
  if (process.platform === 'linux') return findListenerPidsProc(port);
  try {
    const out = execFileSync('lsof', ['-nP', '-t', `-iTCP:${port}`, '-sTCP:LISTEN'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    return out.split('\n').map(Number).filter((pid) => pid > 0);
  } catch {
    return [];
  }
}

function findListenerPidsProc(port: number): number[] {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] = local address "ADDR:PORT", cols[3] = state (0A = LISTEN), cols[9] = inode
      if (cols.length > 9 && cols[1]!.endsWith(`:${portHex}`) && cols[3] === '0A') inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try { fds = readdirSync(`/proc/${entry}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target: string;
      try { target = readlinkSync(`/proc/${entry}/fd/${fd}`); } catch { continue; }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match && inodes.has(match[1]!)) {
        pids.push(Number(entry));
        break;
      }
    }
  }
  return pids;
}
