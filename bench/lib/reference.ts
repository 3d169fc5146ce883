import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './run.js';

/** dist/bench/lib/bare-koa.js */
export const BARE_KOA = fileURLToPath(new URL('./bare-koa.js', import.meta.url));

export interface Reference {
  proc: ChildProcess;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** Starts the bare Koa reference app in its own process; stopped when the benchmark ends. */
export async function startBareKoa(token: string): Promise<Reference> {
  const proc = spawn(process.execPath, [BARE_KOA, token], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = (await Promise.race([
    once(proc, 'message'),
    once(proc, 'exit').then(([code]) => {
      throw new Error(`bare Koa exited with ${code} before listening`);
    }),
  ])) as [{ port: number }];
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    await exited;
  };
  onCleanup(stop);
  return { proc, pid: proc.pid!, port: message.port, stop };
}
