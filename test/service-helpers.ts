import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** dist/src/cli.js, the built CLI the service definitions point at. */
export const CLI = resolve(fileURLToPath(new URL('../src/cli.js', import.meta.url)));

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = 'xopc-service-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An environment with nothing of the developer's xopc or systemd session in it. */
export function isolatedEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ...extra };
  for (const key of ['XDG_CONFIG_HOME', 'XOPC_CONFIG', 'XOPC_GATEWAY_TOKEN', 'DBUS_SESSION_BUS_ADDRESS', 'INVOCATION_ID', 'JOURNAL_STREAM', 'XOPC_SERVICE_MARKER', 'XOPC_SYSTEMCTL']) {
    if (!(key in extra)) delete env[key];
  }
  return env;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/src/cli.js ...args` with a bounded time. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * A stand-in for systemctl that records its calls and answers like a working user manager.
 * Only for the calls into the manager: the unit itself is checked by the real systemd-analyze.
 * `show` reports MainPID=$FAKE_MAIN_PID (default 4242).
 */
export function writeFakeSystemctl(dir: string): { path: string; log: string } {
  const path = join(dir, 'fake-systemctl');
  const log = join(dir, 'systemctl-calls.log');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `echo "$*" >> '${log}'`,
      'case "$*" in',
      '  *" show "*) printf "LoadState=loaded\\nActiveState=active\\nSubState=running\\nMainPID=%s\\n" "${FAKE_MAIN_PID:-4242}" ;;',
      'esac',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return { path, log };
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePromise(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Polls GET /health until it answers 200 or the time is up; returns the body or null. */
export async function waitForHealth(port: number, timeoutMs: number): Promise<{ status: string; uptime: number } | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return (await res.json()) as { status: string; uptime: number };
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  return null;
}

/** Waits until `check` is true (polling every 50 ms) or the time is up. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

/** Runs python3 with a small script; used to parse plists and XML with real parsers. */
export function python(script: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
