import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { describeCall, firstLine, type ToolResult } from './exec.js';
import type { ServiceSpec } from './spec.js';
import { parseSystemdUnit, renderSystemdUnit, SYSTEMD_UNIT_NAME } from './systemd-unit.js';
import type { ActionResult, InstallResult, ManagerDeps, ServiceManager, ServiceState, ServiceStatus, UninstallResult } from './types.js';
import { statusFromDefinition } from './types.js';

/** `${XDG_CONFIG_HOME:-~/.config}/systemd/user`: where `systemctl --user` looks for units. */
export function systemdUserDir(home: string, env: NodeJS.ProcessEnv): string {
  const configHome = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return resolve(configHome, 'systemd', 'user');
}

/** Why systemctl failed, in one line that says what to do; null when it did not fail. */
export function explainSystemctl(args: string[], result: ToolResult, username: string): string | null {
  if (result.code === 0) return null;
  const call = describeCall('systemctl', args);
  if (result.failure === 'not-found') return 'systemctl was not found: this system does not run systemd, so the unit cannot be enabled or started here.';
  if (result.failure === 'timeout') return `\`${call}\` did not answer in time; is the systemd user manager hung? Try \`systemctl --user status\`.`;
  // systemctl reports what it did ("Removed ...", "Created symlink ...") on stderr too, before
  // the line that says what failed: that line is the reason, not the progress lines.
  const reason = firstLine(withoutProgress(result.stderr)) || firstLine(withoutProgress(result.stdout)) || `exit code ${result.code}`;
  if (/has not been booted with systemd|systemd as init system/i.test(reason)) {
    return `systemd is not running on this machine (${reason}); the unit is in place for a system that boots with systemd.`;
  }
  if (/Failed to connect to bus|DBUS_SESSION_BUS_ADDRESS|XDG_RUNTIME_DIR|No medium found|Host is down/i.test(reason)) {
    return `The systemd user manager is not reachable (${reason}): run this from a login session of ${username} (not sudo/su), or enable lingering with \`sudo loginctl enable-linger ${username}\` and log in again.`;
  }
  return `\`${call}\` failed: ${reason}`;
}

const PROGRESS_LINE = /^\s*(Removed|Created symlink|Unlinked|Synchronizing state|Executing)\b/;

function withoutProgress(text: string): string {
  return text.split(/\r?\n/).filter((line) => !PROGRESS_LINE.test(line)).join('\n');
}

/** The systemd user-unit manager (Linux). `XOPC_SYSTEMCTL` replaces the systemctl binary, for tests only. */
export function createSystemdManager(deps: ManagerDeps): ServiceManager {
  const dir = systemdUserDir(deps.home, deps.env);
  const unitPath = join(dir, SYSTEMD_UNIT_NAME);
  const wantsLink = join(dir, 'default.target.wants', SYSTEMD_UNIT_NAME);
  const systemctlBin = deps.env.XOPC_SYSTEMCTL || 'systemctl';

  async function systemctl(...args: string[]): Promise<{ result: ToolResult; problem: string | null }> {
    const full = ['--user', ...args];
    const result = await deps.run(systemctlBin, full);
    return { result, problem: explainSystemctl(full, result, deps.username) };
  }

  async function lingerNote(): Promise<string | null> {
    const result = await deps.run('loginctl', ['show-user', deps.username, '--property=Linger']);
    if (result.code !== 0 || !/^Linger=no\s*$/m.test(result.stdout)) return null;
    return `Lingering is off for ${deps.username}: the gateway starts when you log in and stops when you log out. To keep it running: sudo loginctl enable-linger ${deps.username}`;
  }

  async function install(spec: ServiceSpec): Promise<InstallResult> {
    const text = renderSystemdUnit(spec);
    const changed = readOrNull(unitPath) !== text;
    if (changed) writeFileAtomic(unitPath, text, 0o644);
    const out: InstallResult = { definitionPath: unitPath, changed, enabled: false, started: false, problem: null, notes: [] };

    const reload = await systemctl('daemon-reload');
    if (reload.result.failure === 'not-found') return { ...out, problem: reload.problem };
    // `enable` only links files, so it works without a reachable manager (offline mode).
    const enable = await systemctl('enable', SYSTEMD_UNIT_NAME);
    out.enabled = enable.result.code === 0;
    out.problem = reload.problem ?? enable.problem;
    if (out.problem) return out;
    // A unit that hit its start limit refuses `start` until the failure is cleared.
    await systemctl('reset-failed', SYSTEMD_UNIT_NAME);
    // A changed unit must replace a running instance; an unchanged one is only started if needed.
    const start = await systemctl(changed ? 'restart' : 'start', SYSTEMD_UNIT_NAME);
    out.started = start.result.code === 0;
    out.problem = start.problem;
    const note = await lingerNote();
    if (note) out.notes.push(note);
    return out;
  }

  async function start(): Promise<ActionResult> {
    const started = await systemctl('start', SYSTEMD_UNIT_NAME);
    return { ok: started.result.code === 0, problem: started.problem, notes: [] };
  }

  async function stop(): Promise<ActionResult> {
    const stopped = await systemctl('stop', SYSTEMD_UNIT_NAME);
    return { ok: stopped.result.code === 0, problem: stopped.problem, notes: [] };
  }

  async function status(): Promise<ServiceStatus> {
    const text = readOrNull(unitPath);
    const base = statusFromDefinition('systemd', unitPath, text === null ? null : parseSystemdUnit(text));
    const shown = await systemctl('show', SYSTEMD_UNIT_NAME, '--property=LoadState,ActiveState,SubState,MainPID');
    if (shown.problem) return { ...base, problem: text === null ? null : shown.problem };
    const props = parseProperties(shown.result.stdout);
    const pid = Number(props.MainPID);
    return {
      ...base,
      state: text === null ? 'not-installed' : mapState(props.ActiveState, props.SubState),
      detail: props.ActiveState ? `${props.ActiveState} (${props.SubState ?? '?'})` : null,
      pid: Number.isInteger(pid) && pid > 0 ? pid : null,
    };
  }

  async function uninstall(): Promise<UninstallResult> {
    const removed: string[] = [];
    const notes: string[] = [];
    if (!existsSync(unitPath) && !isSymlink(wantsLink)) return { ok: true, problem: null, notes: ['Not installed: nothing to remove.'], removed };
    // Stop first so the gateway drains; `disable` also removes the default.target.wants link.
    const disable = await systemctl('disable', '--now', SYSTEMD_UNIT_NAME);
    if (isSymlink(wantsLink) && readlinkSync(wantsLink).endsWith(SYSTEMD_UNIT_NAME)) {
      unlinkSync(wantsLink);
      removed.push(wantsLink);
    }
    if (existsSync(unitPath)) {
      unlinkSync(unitPath);
      removed.push(unitPath);
    }
    removeIfEmpty(join(dir, 'default.target.wants'));
    const reload = await systemctl('daemon-reload');
    if (!reload.problem) await systemctl('reset-failed', SYSTEMD_UNIT_NAME);
    const problem = disable.result.failure === 'not-found' ? null : (disable.problem ?? reload.problem);
    return { ok: problem === null, problem, notes, removed };
  }

  return {
    kind: 'systemd',
    definitionPath: unitPath,
    serviceName: SYSTEMD_UNIT_NAME,
    install,
    start,
    stop,
    status,
    uninstall,
    nativeCommands: () => ({
      stop: `systemctl --user stop ${SYSTEMD_UNIT_NAME}`,
      restart: `systemctl --user restart ${SYSTEMD_UNIT_NAME}`,
      logs: `journalctl --user -u ${SYSTEMD_UNIT_NAME}`,
    }),
  };
}

function mapState(active: string | undefined, sub: string | undefined): ServiceState {
  switch (active) {
    case 'active':
      return 'running';
    case 'activating':
      return sub === 'auto-restart' ? 'restarting' : 'starting';
    case 'deactivating':
      return 'stopping';
    case 'inactive':
      return 'stopped';
    case 'failed':
      return 'failed';
    default:
      return 'unknown';
  }
}

function parseProperties(text: string): Record<string, string> {
  const props: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) props[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return props;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function removeIfEmpty(path: string): void {
  try {
    if (readdirSync(path).length === 0) rmdirSync(path);
  } catch {
    /* not there, or not ours to remove */
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
