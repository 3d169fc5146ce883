import { findListenerPids, isRunning, processInfo, signal, waitForExit } from '../src/proc.js';
import { setTimeout as sleep } from 'node:timers/promises';

// The seed's numbers for --force: SIGTERM, 700 ms to go quietly, then SIGKILL.
export const FORCE_TERM_WAIT_MS = 700;
const PORT_FREE_WAIT_MS = 5000;

/**
 * Ends the processes in `pids` the way `--force` promises: SIGTERM to each one whose
 * parent is not also in the list (a gateway's worker follows its supervisor), wait
 * 700 ms, SIGKILL whatever is left. Returns the pids it signalled.
 */
export async function terminateProcesses(pids: number[]): Promise<number[]> {
  const alive = [...new Set(pids)].filter((pid) => pid !== process.pid && isRunning(pid));
  const roots = alive.filter((pid) => !alive.includes(processInfo(pid)?.ppid ?? -1));
  for (const pid of roots) signal(pid, 'SIGTERM');
  const deadline = Date.now() + FORCE_TERM_WAIT_MS;
  for (const pid of alive) await waitForExit(pid, Math.max(0, deadline - Date.now()));
  for (const pid of alive) if (isRunning(pid)) signal(pid, 'SIGKILL');
  for (const pid of alive) await waitForExit(pid, 2000);
  return alive;
}

/** The pids listening on `port` (from the OS), minus ourselves. */
export function portOwners(port: number): number[] {
  return findListenerPids(port).filter((pid) => pid !== process.pid);
}

/** Waits until nobody listens on `port` any more; false after 5 s. */
export async function waitForPortFree(port: number): Promise<boolean> {
  const deadline = Date.now() + PORT_FREE_WAIT_MS;
  while (Date.now() < deadline) {
    if (portOwners(port).length === 0) return true;
    await sleep(50);
  }
  return portOwners(port).length === 0;
}
