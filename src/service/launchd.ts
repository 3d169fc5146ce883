import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { VERSION } from '../version.js';
import { describeCall, firstLine, type ToolResult } from './exec.js';
import type { ServiceSpec } from './spec.js';
import type { ActionResult, InstallResult, ManagerDeps, ServiceManager, ServiceStatus, UninstallResult } from './types.js';
import { statusFromDefinition } from './types.js';

export const LAUNCHD_LABEL = 'ai.xopc.gateway';

// launchd does not relaunch a job more often than this (seconds): the crash-loop guard,
// and the longest pause a SIGUSR1 restart costs when the gateway ran for less than that.
const THROTTLE_INTERVAL_SEC = 10;

/** Paths of the captured stdout/stderr (launchd does not rotate them: keep them small). */
export function launchdLogPaths(logDir: string): { out: string; err: string } {
  return { out: join(logDir, 'launchd.out.log'), err: join(logDir, 'launchd.err.log') };
}

/**
 * Renders the LaunchAgent. KeepAlive=true relaunches on every exit, which is what a
 * supervised SIGUSR1 restart (exit 0) needs; LaunchOnlyOnce is never set because it
 * contradicts KeepAlive. ExitTimeOut is how long launchd waits after SIGTERM: past the drain.
 */
export function renderLaunchdPlist(spec: ServiceSpec): string {
  const env = { XOPC_SERVICE_MARKER: 'launchd', ...spec.env };
  const logs = launchdLogPaths(spec.logDir);
  const s = (value: string) => `<string>${escapeXml(value)}</string>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- Written by \`xopc gateway install\` (xopc ${VERSION}); \`xopc gateway uninstall\` removes it. No token here: it is read from the config file. -->`,
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>${s(LAUNCHD_LABEL)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...[spec.program, ...spec.args].map((arg) => `    ${s(arg)}`),
    '  </array>',
    `  <key>WorkingDirectory</key>${s(spec.workingDir)}`,
    '  <key>EnvironmentVariables</key>',
    '  <dict>',
    ...Object.entries(env).map(([key, value]) => `    <key>${escapeXml(key)}</key>${s(value)}`),
    '  </dict>',
    '  <key>RunAtLoad</key><true/>',
    '  <key>KeepAlive</key><true/>',
    `  <key>ThrottleInterval</key><integer>${THROTTLE_INTERVAL_SEC}</integer>`,
    `  <key>ExitTimeOut</key><integer>${spec.stopTimeoutSec}</integer>`,
    `  <key>StandardOutPath</key>${s(logs.out)}`,
    `  <key>StandardErrorPath</key>${s(logs.err)}`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

/** Reads ProgramArguments, WorkingDirectory and EnvironmentVariables back from our plist. */
export function parseLaunchdPlist(text: string): { program: string; args: string[]; workingDir: string | null; env: Record<string, string> } | null {
  const args = /<key>ProgramArguments<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(text);
  if (!args) return null;
  const argv = [...args[1]!.matchAll(/<string>([\s\S]*?)<\/string>/g)].map((m) => unescapeXml(m[1]!));
  if (argv.length === 0) return null;
  const wd = /<key>WorkingDirectory<\/key>\s*<string>([\s\S]*?)<\/string>/.exec(text);
  const envBlock = /<key>EnvironmentVariables<\/key>\s*<dict>([\s\S]*?)<\/dict>/.exec(text);
  const env: Record<string, string> = {};
  for (const m of envBlock?.[1]!.matchAll(/<key>([\s\S]*?)<\/key>\s*<string>([\s\S]*?)<\/string>/g) ?? []) env[unescapeXml(m[1]!)] = unescapeXml(m[2]!);
  return { program: argv[0]!, args: argv.slice(1), workingDir: wd ? unescapeXml(wd[1]!) : null, env };
}

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function unescapeXml(value: string): string {
  return value.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** Why launchctl failed, in one line; null when it did not fail. */
export function explainLaunchctl(args: string[], result: ToolResult, uid: number): string | null {
  if (result.code === 0) return null;
  if (result.failure === 'not-found') return 'launchctl was not found: LaunchAgents need macOS.';
  const call = describeCall('launchctl', args);
  if (result.failure === 'timeout') return `\`${call}\` did not answer in time.`;
  const reason = firstLine(result.stderr) || firstLine(result.stdout) || `exit code ${result.code}`;
  if (/Could not find domain|Domain does not support/i.test(reason)) {
    return `No GUI login session for uid ${uid} (${reason}): LaunchAgents run in the desktop session; log in to the desktop, then run this again.`;
  }
  return `\`${call}\` failed: ${reason}`;
}

/** The LaunchAgent manager (macOS): bootstrap/bootout/kickstart in the `gui/<uid>` domain. */
export function createLaunchdManager(deps: ManagerDeps): ServiceManager {
  const plistPath = join(deps.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const domain = `gui/${deps.uid}`;
  const target = `${domain}/${LAUNCHD_LABEL}`;

  async function launchctl(...args: string[]): Promise<{ result: ToolResult; problem: string | null }> {
    const result = await deps.run('launchctl', args);
    return { result, problem: explainLaunchctl(args, result, deps.uid) };
  }

  async function loaded(): Promise<{ loaded: boolean; print: ToolResult; problem: string | null }> {
    const print = await launchctl('print', target);
    // 113: "Could not find service" in this domain, i.e. installed but not bootstrapped.
    if (print.result.code === 113 || /Could not find service/i.test(print.result.stderr)) return { loaded: false, print: print.result, problem: null };
    return { loaded: print.result.code === 0, print: print.result, problem: print.problem };
  }

  async function install(spec: ServiceSpec): Promise<InstallResult> {
    const text = renderLaunchdPlist(spec);
    const changed = readOrNull(plistPath) !== text;
    // launchd opens the log files but does not create their directory.
    mkdirSync(spec.logDir, { recursive: true, mode: 0o700 });
    if (changed) writeFileAtomic(plistPath, text, 0o644);
    const out: InstallResult = { definitionPath: plistPath, changed, enabled: false, started: false, problem: null, notes: [] };
    const state = await loaded();
    if (state.problem && state.print.failure === 'not-found') return { ...out, problem: state.problem };
    // A job disabled earlier (launchctl disable) refuses to bootstrap until enabled.
    await launchctl('enable', target);
    if (changed && state.loaded) await launchctl('bootout', target);
    if (changed || !state.loaded) {
      const boot = await launchctl('bootstrap', domain, plistPath);
      if (boot.problem) return { ...out, problem: boot.problem };
    } else {
      const kick = await launchctl('kickstart', target);
      if (kick.problem) return { ...out, enabled: true, problem: kick.problem };
    }
    return { ...out, enabled: true, started: true };
  }

  async function start(): Promise<ActionResult> {
    const state = await loaded();
    const step = state.loaded ? await launchctl('kickstart', target) : await launchctl('bootstrap', domain, plistPath);
    return { ok: !step.problem, problem: step.problem, notes: [] };
  }

  async function stop(): Promise<ActionResult> {
    // KeepAlive relaunches a job that exits, so stopping means unloading it until the next login.
    const state = await loaded();
    const out = state.loaded ? await launchctl('bootout', target) : { problem: state.problem };
    return { ok: !out.problem, problem: out.problem, notes: [] };
  }

  async function status(): Promise<ServiceStatus> {
    const text = readOrNull(plistPath);
    const base = statusFromDefinition('launchd', plistPath, text === null ? null : parseLaunchdPlist(text));
    if (text === null) return base;
    const state = await loaded();
    if (state.problem) return { ...base, problem: state.problem };
    if (!state.loaded) return { ...base, state: 'stopped', detail: 'not loaded' };
    const running = /^\s*state = (\S+)/m.exec(state.print.stdout)?.[1];
    const pid = Number(/^\s*pid = (\d+)/m.exec(state.print.stdout)?.[1]);
    return { ...base, state: running === 'running' ? 'running' : 'stopped', detail: running ?? null, pid: pid > 0 ? pid : null };
  }

  async function uninstall(): Promise<UninstallResult> {
    if (!existsSync(plistPath)) return { ok: true, problem: null, notes: ['Not installed: nothing to remove.'], removed: [] };
    const state = await loaded();
    // bootout sends SIGTERM and waits ExitTimeOut for the drain before SIGKILL.
    const out = state.loaded ? await launchctl('bootout', target) : { problem: null };
    unlinkSync(plistPath);
    return { ok: !out.problem, problem: out.problem, notes: ['The captured logs (launchd.*.log) are kept.'], removed: [plistPath] };
  }

  return {
    kind: 'launchd',
    definitionPath: plistPath,
    serviceName: LAUNCHD_LABEL,
    install,
    start,
    stop,
    status,
    uninstall,
    nativeCommands: () => ({
      stop: `launchctl bootout ${target}`,
      restart: `launchctl kickstart -k ${target}`,
      logs: 'xopc gateway logs',
    }),
  };
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
