import { chmodSync, existsSync, readdirSync, statfsSync, statSync } from 'node:fs';
import net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { readLock, removeStaleLock } from '../lock.js';
import { resolveLogFile } from '../log-file.js';
import { lockPath } from '../paths.js';
import { findListenerPids } from '../proc.js';
import { probeHealth } from '../health-probe.js';
import { result, type CheckResult, type DoctorContext } from './types.js';

const MIN_NODE = [20, 19] as const;
// A token below this many bits (estimated) is guessable in reach of a patient attacker.
const TOKEN_FAIL_BITS = 64;
const TOKEN_OK_BITS = 128;
const DISK_FAIL_BYTES = 100 * 1024 * 1024;
const DISK_WARN_BYTES = 1024 * 1024 * 1024;

/** `node.version`: the Node running this command (the one the gateway would run on). */
export function checkNode(): CheckResult {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return ok
    ? result('node.version', 'ok', `Node ${process.versions.node}`)
    : result('node.version', 'fail', `Node ${process.versions.node} is too old: xopc needs >= ${MIN_NODE.join('.')}`, { fix: 'Install Node.js 20.19 or newer (https://nodejs.org)' });
}

/** `config.valid`: the config file parses and validates (with the environment applied). */
export function checkConfig(ctx: DoctorContext): CheckResult {
  if (ctx.configError) return result('config.valid', 'fail', ctx.configError, { fix: `\`xopc config validate\` lists every problem; fix each in ${ctx.configPath} or with \`xopc config set <key> <value>\`` });
  if (!existsSync(ctx.configPath)) return result('config.valid', 'ok', `${ctx.configPath} does not exist yet: defaults apply (created on first start)`);
  return result('config.valid', 'ok', ctx.configPath);
}

/**
 * `permissions.state-dir`, `permissions.config`, `permissions.logs`: nothing the gateway
 * writes (tokens, keys, conversations) may be readable by other users. --fix tightens them.
 */
export function checkPermissions(ctx: DoctorContext): CheckResult[] {
  if (process.platform === 'win32') return [result('permissions', 'skip', 'POSIX permissions do not apply on Windows')];
  const checks: CheckResult[] = [];
  checks.push(tighten(ctx, 'permissions.state-dir', ctx.stateDir, 0o700));
  checks.push(tighten(ctx, 'permissions.config', ctx.configPath, 0o600));
  const logFile = ctx.loaded ? resolveLogFile(ctx.loaded.config.logging, ctx.configPath, ctx.env) : join(ctx.stateDir, 'logs', 'gateway.log');
  const logDir = dirname(logFile);
  const logChecks = [tighten(ctx, 'permissions.logs', logDir, 0o700), ...logFiles(logFile).map((file) => tighten(ctx, 'permissions.logs', file, 0o600))];
  const worst = logChecks.find((check) => check.status === 'fail') ?? logChecks.find((check) => check.fixed) ?? logChecks[0]!;
  const fixed = logChecks.filter((check) => check.fixed).map((check) => check.fixed);
  checks.push(fixed.length > 0 ? { ...worst, fixed: fixed.join('; ') } : worst);
  return checks;
}

function tighten(ctx: DoctorContext, id: string, path: string, mode: number): CheckResult {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch {
    return result(id, 'ok', `${path} does not exist yet (created with mode ${octal(mode)})`);
  }
  if ((current & 0o077) === 0) return result(id, 'ok', `${path} is ${octal(current)}`);
  const message = `${path} is ${octal(current)}: other users can ${current & 0o044 ? 'read' : 'access'} it`;
  if (ctx.fix) {
    try {
      chmodSync(path, mode);
      return result(id, 'ok', message, { fixed: `chmod ${octal(mode)} ${path}` });
    } catch (err) {
      return result(id, 'fail', `${message}; chmod failed: ${(err as Error).message}`, { fix: `chmod ${octal(mode)} ${path}` });
    }
  }
  return result(id, 'fail', message, { fix: `chmod ${octal(mode)} ${path} (or run xopc doctor --fix)` });
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** The log file and its rotated copies that exist. */
function logFiles(logFile: string): string[] {
  const name = basename(logFile);
  try {
    return readdirSync(dirname(logFile)).filter((entry) => entry === name || entry.startsWith(`${name}.`)).map((entry) => join(dirname(logFile), entry));
  } catch {
    return [];
  }
}

/** `token.strength`: the gateway token is long and varied enough not to be guessed. */
export function checkToken(ctx: DoctorContext): CheckResult {
  if (!ctx.loaded) return result('token.strength', 'skip', 'the config is invalid');
  const token = ctx.loaded.config.gateway.auth.token;
  const source = ctx.loaded.tokenSource === 'env' ? 'XOPC_GATEWAY_TOKEN' : 'gateway.auth.token';
  if (!token) return result('token.strength', 'ok', 'no token yet: the first start generates one (256 random bits)');
  const bits = estimateBits(token);
  const fix = `Use a random token: remove ${source} (the next start generates one) or set 32+ random characters (openssl rand -base64 32)`;
  if (bits < TOKEN_FAIL_BITS) return result('token.strength', 'fail', `${source} is weak (about ${Math.round(bits)} bits)`, { fix });
  if (bits < TOKEN_OK_BITS) return result('token.strength', 'warn', `${source} could be stronger (about ${Math.round(bits)} bits; 128 recommended)`, { fix });
  return result('token.strength', 'ok', `${source}: ${token.length} characters, about ${Math.round(Math.min(bits, 256))} bits`);
}

/** Length x log2 of the alphabet the token draws from, shrunk for repeats (`aaaa...`, `abab...`). */
function estimateBits(token: string): number {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/];
  const alphabet = [26, 26, 10, 32].reduce((sum, size, i) => sum + (classes[i]!.test(token) ? size : 0), 0);
  const distinct = new Set(token).size;
  return token.length * Math.log2(Math.max(2, Math.min(alphabet, distinct * 2)));
}

/** `gateway.port`: the configured port is free, or held by this config's gateway. */
export async function checkPort(ctx: DoctorContext): Promise<CheckResult> {
  if (!ctx.loaded) return result('gateway.port', 'skip', 'the config is invalid');
  const { host, port } = ctx.loaded.config.gateway;
  if (port === 0) return result('gateway.port', 'ok', 'port 0: the gateway picks a free port at start');
  const lock = readLock(lockPath(ctx.configPath, ctx.env));
  if (lock.state === 'held' && lock.info.port === port) return result('gateway.port', 'ok', `${host}:${port} is held by this gateway (pid ${lock.info.pid})`);
  const error = await tryListen(host, port);
  if (error === null) return result('gateway.port', 'ok', `${host}:${port} is free`);
  if (error === 'EADDRINUSE') {
    const pids = findListenerPids(port);
    const who = pids.length > 0 ? `pid ${pids.join(', ')}` : 'another program';
    return result('gateway.port', 'fail', `${host}:${port} is in use by ${who}, not by this gateway`, { fix: `Stop ${who}, set gateway.port to another port, or start with xopc gateway --force` });
  }
  if (error === 'EACCES') return result('gateway.port', 'fail', `${host}:${port} needs privileges to bind`, { fix: 'Use a port above 1023' });
  return result('gateway.port', 'fail', `cannot bind ${host}:${port}: ${error}`, { fix: 'Check gateway.host (an address of this machine)' });
}

function tryListen(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** `gateway.lock`: no lock, or one whose gateway answers; a stale lock is reported (and removed by --fix). */
export async function checkLock(ctx: DoctorContext): Promise<CheckResult> {
  const path = lockPath(ctx.configPath, ctx.env);
  const lock = readLock(path);
  if (lock.state === 'free') return result('gateway.lock', 'ok', 'no gateway running for this config');
  if (lock.state === 'stale') {
    const message = `stale lock ${path} (${lock.reason}); the next start takes it over`;
    if (ctx.fix && removeStaleLock(path)) return result('gateway.lock', 'ok', message, { fixed: `removed ${path}` });
    return result('gateway.lock', 'warn', message, { fix: 'xopc doctor --fix removes it' });
  }
  if (lock.state === 'unreadable') return result('gateway.lock', 'fail', `${path} cannot be read (${lock.reason}); a live gateway may hold it`, { fix: 'xopc gateway status, or remove the file if no gateway runs' });
  const { pid, host = '127.0.0.1', port } = lock.info;
  if (port && (await probeHealth(host, port))) return result('gateway.lock', 'ok', `held by the running gateway (pid ${pid}, port ${port}), which answers /health`);
  return result('gateway.lock', 'fail', `held by pid ${pid}, which is alive but does not answer /health${port ? ` on port ${port}` : ''}`, { fix: 'xopc gateway stop --force, then start it again' });
}

/** `disk.free`: room left on the state dir's disk (sessions, logs, cron). */
export function checkDisk(ctx: DoctorContext): CheckResult {
  let dir = ctx.stateDir;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  let free: number;
  try {
    const stats = statfsSync(dir);
    free = stats.bavail * stats.bsize;
  } catch (err) {
    return result('disk.free', 'skip', `cannot read free space of ${dir}: ${(err as Error).message}`);
  }
  const text = `${formatBytes(free)} free on the disk of ${ctx.stateDir}`;
  if (free < DISK_FAIL_BYTES) return result('disk.free', 'fail', text, { fix: 'Free some space: sessions and the log cannot be written on a full disk' });
  if (free < DISK_WARN_BYTES) return result('disk.free', 'warn', text, { fix: 'Free some space soon' });
  return result('disk.free', 'ok', text);
}

/** `logs.size`: the log and its rotated copies stay within what rotation allows. */
export function checkLogs(ctx: DoctorContext): CheckResult {
  if (!ctx.loaded) return result('logs.size', 'skip', 'the config is invalid');
  const { logging } = ctx.loaded.config;
  const logFile = resolveLogFile(logging, ctx.configPath, ctx.env);
  const files = logFiles(logFile);
  let total = 0;
  for (const file of files) {
    try {
      total += statSync(file).size;
    } catch {
      /* rotated away meanwhile */
    }
  }
  const bound = logging.maxSizeBytes * (logging.maxFiles + 1);
  const text = `${formatBytes(total)} in ${files.length} file(s) at ${logFile} (rotation keeps at most ${formatBytes(bound)})`;
  if (total > bound * 1.1) return result('logs.size', 'warn', text, { fix: `Remove old files beside ${logFile}, or lower logging.maxFiles / logging.maxSizeBytes` });
  return result('logs.size', 'ok', text);
}

/** Bytes as B, KB, MB or GB with one decimal. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} B`;
}
