import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockPath } from '../src/paths.js';
import { processStartTime } from '../src/proc.js';
import { CLI, alive, childEnv, removeHome, tempHome, waitUntil } from './helpers/gateway.js';
import { prng } from './helpers/prng.js';

/**
 * Randomized start/kill races on one config's lock: several `xopc gateway` starters at
 * once, random kill -9 / SIGTERM of supervisors and workers while they start, planted
 * stale locks (dead pid, reused pid, garbage, an empty file left by a crash). Invariants:
 * never two gateways serving the config at the same time (from each supervisor's own
 * "listening" and "stopping" lines and its exit, and from the processes and the lock
 * afterwards), no orphaned worker outlives its supervisor, and a stale lock is always
 * recovered: when nothing is running, the next start serves.
 *
 * XOPC_RELIABILITY=long runs 100 races instead of 8; XOPC_RACE_SEED=<n> replays a run.
 */

const LONG = process.env.XOPC_RELIABILITY === 'long';
const RACES = Number(process.env.XOPC_RACES ?? (LONG ? 100 : 8));
const SEED = Number(process.env.XOPC_RACE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SETTLE_TIMEOUT_MS = 20_000;
const ORPHAN_GRACE_MS = 2500;
const TOKEN = 'race-token-0123456789abcdefghij';

const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const chance = (p: number) => random() < p;

interface Starter {
  id: string;
  proc: ChildProcess;
  pid: number;
  output: string;
  force: boolean;
  /** When it said it serves, and when it stopped serving (its "stopping" line or its exit). */
  listeningAt?: number;
  port?: number;
  stoppedAt?: number;
  exit?: { code: number | null; signal: NodeJS.Signals | null; at: number };
}


/** True when the process has a listening TCP socket (from /proc/net/tcp and its fds). */
function listensOn(pid: number): boolean {
  try {
    const listening = new Set(readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((line) => line.trim().split(/\s+/)).filter((f) => f[3] === '0A').map((f) => f[9]));
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        return listening.has(/socket:\[(\d+)\]/.exec(target)?.[1] ?? '');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** State, kernel wait channel, age and CPU time of a process, for a report. */
function describeProcess(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksSinceBoot = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100;
    const wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8');
    return `state ${fields[0]}, wchan ${wchan}, age ${Math.round((ticksSinceBoot - Number(fields[19])) * 10)} ms, cpu ${(Number(fields[11]) + Number(fields[12])) * 10} ms`;
  } catch {
    return 'gone';
  }
}

/** Which starter a worker belonged to, from the "worker started workerPid=N" line in its output. */
function orphanParent(pid: number, starters: Starter[]): string {
  const parent = starters.find((s) => s.output.includes(`workerPid=${pid}`));
  return parent ? `${parent.id} pid ${parent.pid}, exit ${parent.exit?.signal ?? parent.exit?.code}` : 'unknown';
}

function readLockFile(file: string): { pid?: number } | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { pid?: number };
  } catch {
    return null;
  }
}

/** Every process whose environment names this home: supervisors and workers. */
function processesOf(home: string): Array<{ pid: number; ppid: number; kind: 'supervisor' | 'worker' | 'other' }> {
  const found: Array<{ pid: number; ppid: number; kind: 'supervisor' | 'worker' | 'other' }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`XOPC_HOME=${home}`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const kind = cmdline.includes('worker/main.js') ? 'worker' : cmdline.includes('cli.js') ? 'supervisor' : 'other';
      found.push({ pid, ppid: Number(fields[1]), kind });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

test(`randomized start/kill races on the lock (seed ${SEED}, ${RACES} races)`, { timeout: LONG ? 30 * 60_000 : 150_000 }, async (t) => {
  const home = tempHome('xopc-race-');
  const configPath = join(home, 'config.json');
  writeFileSync(configPath, JSON.stringify({ gateway: { auth: { token: TOKEN } }, logging: { level: 'info' } }), { mode: 0o600 });
  const lockFile = lockPath(configPath, { XOPC_HOME: home });
  const env = childEnv(home);
  const starters: Starter[] = [];
  const violations: string[] = [];
  const outcomes: Record<string, number> = {};
  const count = (what: string) => (outcomes[what] = (outcomes[what] ?? 0) + 1);

  /** Two supervisors of this config serving at once is the one thing that must never happen. */
  const checkOverlap = (who: Starter) => {
    for (const other of starters) {
      if (other === who || other.listeningAt === undefined || who.listeningAt === undefined) continue;
      const otherEnd = other.stoppedAt ?? Number.POSITIVE_INFINITY;
      const whoEnd = who.stoppedAt ?? Number.POSITIVE_INFINITY;
      if (who.listeningAt < otherEnd && other.listeningAt < whoEnd) violations.push(`two gateways serving at once: ${who.id} (pid ${who.pid}, port ${who.port}) and ${other.id} (pid ${other.pid}, port ${other.port})`);
    }
  };

  const start = (id: string, force: boolean): Starter => {
    const proc = spawn(process.execPath, [CLI, 'gateway', '--port', '0', '--host', '127.0.0.1', ...(force ? ['--force'] : [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const starter: Starter = { id, proc, pid: proc.pid!, output: '', force };
    const onData = (chunk: Buffer) => {
      starter.output += chunk;
      const listening = /Gateway listening on http:\/\/127\.0\.0\.1:(\d+) \(pid (\d+)\)/.exec(starter.output);
      if (listening && starter.listeningAt === undefined) {
        starter.listeningAt = Date.now();
        starter.port = Number(listening[1]);
        checkOverlap(starter);
      }
      if (starter.stoppedAt === undefined && new RegExp(`supervisor\\[${starter.pid}\\]: stopping`).test(starter.output)) starter.stoppedAt = Date.now();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code, signal) => {
      starter.exit = { code, signal, at: Date.now() };
      starter.stoppedAt ??= Date.now();
    });
    starters.push(starter);
    return starter;
  };

  const running = () => starters.filter((s) => !s.exit);
  // Every starter exited or serves (one that is stopping has not exited yet: wait for it).
  const settled = () => running().every((s) => s.listeningAt !== undefined && s.stoppedAt === undefined);

  /** Leaves a lock nobody alive owns, in one of the shapes a crash or an old version leaves. */
  const plantStaleLock = async (): Promise<string> => {
    mkdirSync(join(home, 'locks'), { recursive: true, mode: 0o700 });
    switch (int(4)) {
      case 0: {
        const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
        await once(dead, 'exit');
        writeFileSync(lockFile, JSON.stringify({ pid: dead.pid, createdAt: new Date().toISOString(), configPath, startTime: 1, port: 1, host: '127.0.0.1', workerPid: null }), { mode: 0o600 });
        return 'dead pid';
      }
      case 1:
        // Our own pid with another start time: a pid reused since the lock was written.
        writeFileSync(lockFile, JSON.stringify({ pid: process.pid, createdAt: new Date().toISOString(), configPath, startTime: (processStartTime(process.pid) ?? 0) + 1 }), { mode: 0o600 });
        return 'reused pid';
      case 2:
        writeFileSync(lockFile, '{"pid": 12', { mode: 0o600 });
        return 'garbage';
      default: {
        // Created but never written (killed in between), long enough ago to count as stale.
        writeFileSync(lockFile, '', { mode: 0o600 });
        const past = new Date(Date.now() - 10_000);
        utimesSync(lockFile, past, past);
        return 'empty';
      }
    }
  };

  try {
    for (let race = 0; race < RACES; race++) {
      // 1. What the starters find: a live gateway, a stale lock of some kind, or nothing.
      let planted = 'whatever the last race left';
      if (running().length === 0 && chance(0.5)) planted = await plantStaleLock();

      // 2. Several starters at once, and random signals while they start.
      const raceStart = Date.now();
      const actions: string[] = [];
      const racers = Array.from({ length: 2 + int(3) }, (_, i) => ({ delay: int(300), force: chance(0.1), id: `r${race}.${i}` }));
      const launched = racers.map(async ({ delay, force, id }) => {
        await sleep(delay);
        start(id, force);
      });
      const chaos = Array.from({ length: 1 + int(3) }, async () => {
        await sleep(int(1500));
        const targets = processesOf(home).filter((p) => p.kind !== 'other');
        if (targets.length === 0) return;
        const target = targets[int(targets.length)]!;
        const signal: NodeJS.Signals = chance(0.7) ? 'SIGKILL' : 'SIGTERM';
        try {
          process.kill(target.pid, signal);
          count(`${signal} ${target.kind}`);
          actions.push(`${Date.now() - raceStart} ms: ${signal} ${target.kind} ${target.pid}${target.kind === 'worker' ? ` (of ${target.ppid})` : ''}`);
        } catch {
          /* already gone */
        }
      });
      await Promise.all([...launched, ...chaos]);

      // 3. Settled: every starter exited or serves.
      await waitUntil(settled, SETTLE_TIMEOUT_MS, `race ${race} (${planted}) to settle:\n${running().map((s) => `${s.id}: ${s.output}`).join('\n')}`);
      await sleep(200);
      for (const s of starters.filter((s) => s.id.startsWith(`r${race}.`))) {
        if (s.exit?.signal) count('starter killed');
        else if (s.exit && /Gateway already running \(pid (\d+|unknown)\)/.test(s.output)) count('starter refused: already running');
        else if (s.exit && s.exit.code === 0) count('starter stopped cleanly');
        else if (s.exit) violations.push(`${s.id} exited ${s.exit.code} for an unexpected reason:\n${s.output}`);
        else count('starter serving');
        if (/\n\s+at .+:\d+:\d+/.test(s.output) && !/worker\[\d+\]/.test(s.output)) violations.push(`${s.id} printed a stack trace:\n${s.output}`);
      }

      // 4. The processes and the lock agree: at most one supervisor, named by the lock, answering.
      const serving = running();
      if (serving.length > 1) violations.push(`race ${race}: ${serving.length} supervisors running: ${serving.map((s) => s.id).join(', ')}`);
      const orphansBy = Date.now() + ORPHAN_GRACE_MS;
      await waitUntil(() => processesOf(home).filter((p) => p.kind === 'worker' && !serving.some((s) => s.pid === p.ppid)).length === 0 || Date.now() > orphansBy, ORPHAN_GRACE_MS + 1000, 'orphans');
      for (const orphan of processesOf(home).filter((p) => p.kind === 'worker' && !serving.some((s) => s.pid === p.ppid))) {
        violations.push(`race ${race}: worker ${orphan.pid} still running ${ORPHAN_GRACE_MS} ms after its supervisor died${listensOn(orphan.pid) ? ', its listening socket still open' : ''} (${describeProcess(orphan.pid)}; parent was ${orphanParent(orphan.pid, starters)}; signals: ${actions.join(', ')})`);
        process.kill(orphan.pid, 'SIGKILL');
      }
      const supervisors = processesOf(home).filter((p) => p.kind === 'supervisor');
      if (supervisors.length > 1) violations.push(`race ${race}: ${supervisors.length} supervisor processes for one config`);
      if (serving.length === 1) {
        const lock = readLockFile(lockFile);
        if (lock?.pid !== serving[0]!.pid) violations.push(`race ${race}: the lock names pid ${lock?.pid}, but ${serving[0]!.pid} serves`);
        const health = await fetch(`http://127.0.0.1:${serving[0]!.port}/health`).then((r) => r.status, () => 0);
        if (health !== 200) violations.push(`race ${race}: the serving gateway's /health answered ${health}`);
      }

      // 5. Stale locks are always recovered: with nothing running, a plain start serves.
      if (serving.length === 0) {
        const fresh = start(`r${race}.fresh`, false);
        await waitUntil(() => fresh.listeningAt !== undefined || fresh.exit, SETTLE_TIMEOUT_MS, `a start after race ${race}`);
        if (fresh.listeningAt === undefined) violations.push(`race ${race} (${planted}): nothing was running, yet a new start failed:\n${fresh.output}`);
        else count('recovered with a fresh start');
      }

      // 6. Leave the next race a live gateway, a kill -9 stale lock, or a clean stop.
      const live = running()[0];
      if (live) {
        const next = int(3);
        if (next === 1) live.proc.kill('SIGKILL');
        if (next === 2) live.proc.kill('SIGTERM');
        if (next > 0) await waitUntil(() => live.exit, 10_000, `${live.id} to exit`);
      }
      if (violations.length > 0) break;
    }
    t.diagnostic(`seed ${SEED}: ${JSON.stringify(outcomes)}`);
    assert.deepEqual(violations, [], `replay with XOPC_RACE_SEED=${SEED}`);
  } finally {
    for (const s of running()) s.proc.kill('SIGTERM');
    await waitUntil(() => running().length === 0, 10_000, 'starters to stop').catch(() => running().forEach((s) => s.proc.kill('SIGKILL')));
    for (const p of processesOf(home)) if (alive(p.pid)) process.kill(p.pid, 'SIGKILL');
    removeHome(home);
  }
});
