import { execFile } from 'node:child_process';

/** What a service-manager tool (systemctl, launchctl, schtasks, loginctl) did. */
export interface ToolResult {
  /** Exit code; null when it could not be started or was killed by the timeout. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the tool never ran to completion: not installed, or timed out. */
  failure?: 'not-found' | 'timeout' | 'spawn-error';
}

/** Runs one tool invocation; injected so the managers can be tested without the real tools. */
export type RunTool = (command: string, args: string[]) => Promise<ToolResult>;

// systemctl/launchctl answer in milliseconds; a hung D-Bus call is the usual reason to wait
// longer, and 15 s is long enough for a slow `daemon-reload` on a busy machine.
export const TOOL_TIMEOUT_MS = 15_000;

/** The real runner: no shell, bounded time, output kept small, never throws. */
export function createToolRunner(timeoutMs = TOOL_TIMEOUT_MS, env: NodeJS.ProcessEnv = process.env): RunTool {
  return (command, args) =>
    new Promise((resolve) => {
      execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, env, windowsHide: true }, (err, stdout, stderr) => {
        const out = { stdout: String(stdout ?? ''), stderr: String(stderr ?? '') };
        if (!err) return resolve({ code: 0, ...out });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
        if (e.code === 'ENOENT') return resolve({ code: null, ...out, failure: 'not-found' });
        if (e.killed) return resolve({ code: null, ...out, failure: 'timeout' });
        if (typeof e.code === 'number') return resolve({ code: e.code, ...out });
        resolve({ code: null, ...out, stderr: out.stderr || e.message, failure: 'spawn-error' });
      });
    });
}

/** The first non-empty line of a tool's error output, for one-line messages. */
export function firstLine(text: string): string {
  return text.split(/\r?\n/).map((line) => line.trim()).find((line) => line.length > 0) ?? '';
}

/** `systemctl --user daemon-reload` style label for messages. */
export function describeCall(command: string, args: string[]): string {
  return [command, ...args].join(' ');
}
