import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { CliError, EXIT } from '../cli-error.js';
import { VERSION } from '../version.js';
import { describeCall, firstLine, type ToolResult } from './exec.js';
import { escapeXml } from './launchd.js';
import type { ServiceSpec } from './spec.js';
import type { ActionResult, InstallResult, ManagerDeps, ServiceManager, ServiceStatus, UninstallResult } from './types.js';
import { statusFromDefinition } from './types.js';

/*
 * Windows has no POSIX signals: SIGUSR1 does not exist and process.kill(pid, 'SIGTERM')
 * is TerminateProcess, which skips the drain. So on Windows:
 * - the task runs a small .cmd wrapper, because a Task Scheduler Exec action cannot set
 *   environment variables (XOPC_SERVICE_MARKER, XOPC_HOME);
 * - the wrapper sets XOPC_NO_RESPAWN=1 so that a restart is the in-process one (same
 *   supervisor pid, new worker), which Task Scheduler never notices;
 * - `stop` and `restart` go through the supervisor's control channel instead of signals:
 *   the named pipe `\\.\pipe\xopc-gateway-<config hash>` (src/control.ts), whose requests
 *   carry the gateway token; `xopc gateway stop|restart` use it on Windows. A clean exit
 *   is not restarted by the task (RestartOnFailure only), so a drained stop stays stopped.
 *   `schtasks /End` stays the last resort (it terminates without a drain).
 */

export const TASK_NAME = 'xopc-gateway';

/** The wrapper that sets the environment and runs the gateway (Task Scheduler cannot set env). */
export function windowsWrapperPath(stateDir: string): string {
  return join(stateDir, 'service', 'gateway-task.cmd');
}

export function windowsTaskXmlPath(stateDir: string): string {
  return join(stateDir, 'service', 'gateway-task.xml');
}

/** `cmd.exe` quoting: double quotes around each word, `%` doubled so it is not expanded. */
function cmdQuote(word: string): string {
  if (word.includes('"')) throw new CliError(`cannot pass a double quote through cmd.exe: ${word}`, EXIT.USAGE);
  return `"${word.replace(/%/g, '%%')}"`;
}

/** Renders the .cmd wrapper the task runs. */
export function renderWindowsWrapper(spec: ServiceSpec): string {
  const env = { XOPC_SERVICE_MARKER: 'schtasks', XOPC_NO_RESPAWN: '1', ...spec.env };
  return [
    '@echo off',
    `rem Written by "xopc gateway install" (xopc ${VERSION}); "xopc gateway uninstall" removes it.`,
    ...Object.entries(env).map(([key, value]) => `set "${key}=${value.replace(/%/g, '%%')}"`),
    `cd /d ${cmdQuote(spec.workingDir)}`,
    // No output redirection: nothing would rotate that file; the gateway writes its own rotated log.
    [spec.program, ...spec.args].map(cmdQuote).join(' '),
    '',
  ].join('\r\n');
}

/**
 * Renders the Task Scheduler definition: start at logon of this user, no battery
 * conditions, no 72-hour execution limit (PT0S), restart on failure every minute.
 */
export function renderWindowsTaskXml(opts: { wrapperPath: string; workingDir: string; userId: string }): string {
  const x = escapeXml;
  return [
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">',
    '  <RegistrationInfo>',
    `    <Description>xopc gateway (written by xopc gateway install, xopc ${x(VERSION)})</Description>`,
    `    <URI>\\${TASK_NAME}</URI>`,
    '  </RegistrationInfo>',
    '  <Triggers>',
    '    <LogonTrigger>',
    '      <Enabled>true</Enabled>',
    `      <UserId>${x(opts.userId)}</UserId>`,
    '    </LogonTrigger>',
    '  </Triggers>',
    '  <Principals>',
    '    <Principal id="Author">',
    `      <UserId>${x(opts.userId)}</UserId>`,
    '      <LogonType>InteractiveToken</LogonType>',
    '      <RunLevel>LeastPrivilege</RunLevel>',
    '    </Principal>',
    '  </Principals>',
    '  <Settings>',
    '    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
    '    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>',
    '    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
    '    <AllowHardTerminate>true</AllowHardTerminate>',
    '    <StartWhenAvailable>true</StartWhenAvailable>',
    '    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>',
    '    <IdleSettings>',
    '      <StopOnIdleEnd>false</StopOnIdleEnd>',
    '      <RestartOnIdle>false</RestartOnIdle>',
    '    </IdleSettings>',
    '    <AllowStartOnDemand>true</AllowStartOnDemand>',
    '    <Enabled>true</Enabled>',
    '    <Hidden>false</Hidden>',
    '    <RunOnlyIfIdle>false</RunOnlyIfIdle>',
    '    <WakeToRun>false</WakeToRun>',
    '    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>',
    '    <Priority>7</Priority>',
    '    <RestartOnFailure>',
    '      <Interval>PT1M</Interval>',
    '      <Count>999</Count>',
    '    </RestartOnFailure>',
    '  </Settings>',
    '  <Actions Context="Author">',
    '    <Exec>',
    `      <Command>${x(opts.wrapperPath)}</Command>`,
    `      <WorkingDirectory>${x(opts.workingDir)}</WorkingDirectory>`,
    '    </Exec>',
    '  </Actions>',
    '</Task>',
    '',
  ].join('\r\n');
}

/** schtasks reads /XML files as UTF-16 (the declaration says so): little endian with a BOM. */
export function encodeUtf16(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

/** Why schtasks failed, in one line; null when it did not fail. */
export function explainSchtasks(args: string[], result: ToolResult): string | null {
  if (result.code === 0) return null;
  if (result.failure === 'not-found') return 'schtasks was not found: Task Scheduler tasks need Windows.';
  const call = describeCall('schtasks', args);
  if (result.failure === 'timeout') return `\`${call}\` did not answer in time.`;
  return `\`${call}\` failed: ${firstLine(result.stderr) || firstLine(result.stdout) || `exit code ${result.code}`}`;
}

/** The Task Scheduler manager (Windows). `stateDir` holds the wrapper and the XML. */
export function createWindowsManager(deps: ManagerDeps & { stateDir: string }): ServiceManager {
  const wrapperPath = windowsWrapperPath(deps.stateDir);
  const xmlPath = windowsTaskXmlPath(deps.stateDir);
  const userId = deps.env.USERDOMAIN ? `${deps.env.USERDOMAIN}\\${deps.username}` : deps.username;

  async function schtasks(...args: string[]): Promise<{ result: ToolResult; problem: string | null }> {
    const result = await deps.run('schtasks', args);
    return { result, problem: explainSchtasks(args, result) };
  }

  async function install(spec: ServiceSpec): Promise<InstallResult> {
    const wrapper = renderWindowsWrapper(spec);
    const xml = encodeUtf16(renderWindowsTaskXml({ wrapperPath, workingDir: spec.workingDir, userId }));
    const changed = readOrNull(wrapperPath) !== wrapper || !sameBytes(xmlPath, xml);
    if (changed) {
      writeFileAtomic(wrapperPath, wrapper, 0o600);
      writeFileAtomic(xmlPath, xml, 0o600);
    }
    const out: InstallResult = { definitionPath: xmlPath, changed, enabled: false, started: false, problem: null, notes: [] };
    // /F replaces an existing task of that name, which makes a second install idempotent.
    const create = await schtasks('/Create', '/TN', TASK_NAME, '/XML', xmlPath, '/F');
    if (create.problem) return { ...out, problem: create.problem };
    const run = await schtasks('/Run', '/TN', TASK_NAME);
    return { ...out, enabled: true, started: !run.problem, problem: run.problem };
  }

  async function start(): Promise<ActionResult> {
    const run = await schtasks('/Run', '/TN', TASK_NAME);
    return { ok: !run.problem, problem: run.problem, notes: [] };
  }

  async function stop(): Promise<ActionResult> {
    // Terminates without a drain: `xopc gateway stop` uses the control channel first.
    const end = await schtasks('/End', '/TN', TASK_NAME);
    return { ok: !end.problem, problem: end.problem, notes: [] };
  }

  async function status(): Promise<ServiceStatus> {
    const installed = existsSync(xmlPath);
    // schtasks reports no pid; the command fills it in from the gateway lock.
    const base = statusFromDefinition('schtasks', xmlPath, installed ? parseWrapper(readOrNull(wrapperPath) ?? '') : null, installed);
    if (!installed) return base;
    const query = await schtasks('/Query', '/TN', TASK_NAME, '/FO', 'LIST');
    if (query.problem) return { ...base, problem: query.problem };
    const detail = /^Status:\s*(.+)$/m.exec(query.result.stdout)?.[1]?.trim() ?? null;
    return { ...base, detail, state: detail === 'Running' ? 'running' : detail ? 'stopped' : 'unknown' };
  }

  async function uninstall(): Promise<UninstallResult> {
    if (!existsSync(xmlPath) && !existsSync(wrapperPath)) return { ok: true, problem: null, notes: ['Not installed: nothing to remove.'], removed: [] };
    await schtasks('/End', '/TN', TASK_NAME);
    const del = await schtasks('/Delete', '/TN', TASK_NAME, '/F');
    const removed: string[] = [];
    for (const path of [xmlPath, wrapperPath]) {
      if (existsSync(path)) {
        unlinkSync(path);
        removed.push(path);
      }
    }
    return { ok: !del.problem, problem: del.problem, notes: [], removed };
  }

  return {
    kind: 'schtasks',
    definitionPath: xmlPath,
    serviceName: TASK_NAME,
    install,
    start,
    stop,
    status,
    uninstall,
    nativeCommands: () => ({
      stop: `schtasks /End /TN ${TASK_NAME}`,
      restart: `schtasks /End /TN ${TASK_NAME} && schtasks /Run /TN ${TASK_NAME}`,
      logs: 'xopc gateway logs',
    }),
  };
}

/** Reads the program line and `set` lines back from the wrapper. */
function parseWrapper(text: string): { program: string; args: string[]; workingDir: string | null; env: Record<string, string> } | null {
  const env: Record<string, string> = {};
  let workingDir: string | null = null;
  let argv: string[] | null = null;
  for (const line of text.split(/\r?\n/)) {
    const set = /^set "([^=]+)=(.*)"$/.exec(line);
    if (set) env[set[1]!] = set[2]!.replace(/%%/g, '%');
    else if (line.startsWith('cd /d ')) workingDir = line.slice(6).replace(/^"|"$/g, '').replace(/%%/g, '%');
    else if (line.startsWith('"')) argv = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!.replace(/%%/g, '%'));
  }
  return argv && argv.length > 0 ? { program: argv[0]!, args: argv.slice(1), workingDir, env } : null;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function sameBytes(path: string, bytes: Buffer): boolean {
  try {
    return readFileSync(path).equals(bytes);
  } catch {
    return false;
  }
}
