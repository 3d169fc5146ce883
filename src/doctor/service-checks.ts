import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { LAUNCHD_LABEL } from '../service/launchd.js';
import { systemdUserDir } from '../service/systemd.js';
import { SYSTEMD_UNIT_NAME } from '../service/systemd-unit.js';
import { result, type CheckResult, type DoctorContext } from './types.js';

const TOOL_TIMEOUT_MS = 20_000;

/**
 * `service.installed`, and on Linux `service.unit` (systemd-analyze verify of the installed
 * unit) and `service.linger` (user services keep running after logout).
 */
export function checkService(ctx: DoctorContext): CheckResult[] {
  if (process.platform === 'linux') return checkSystemd(ctx);
  if (process.platform === 'darwin') {
    const plist = join(ctx.home, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
    return [existsSync(plist) ? result('service.installed', 'ok', plist) : notInstalled()];
  }
  return [result('service.installed', 'skip', `not checked on ${process.platform}; see xopc gateway service-status`)];
}

function notInstalled(): CheckResult {
  return result('service.installed', 'warn', 'no service installed: the gateway runs only while a terminal or script keeps it', { fix: 'xopc gateway install' });
}

function checkSystemd(ctx: DoctorContext): CheckResult[] {
  const unit = join(systemdUserDir(ctx.home, ctx.env), SYSTEMD_UNIT_NAME);
  if (!existsSync(unit)) return [notInstalled()];
  return [result('service.installed', 'ok', unit), verifyUnit(ctx, unit), checkLinger(ctx)];
}

function verifyUnit(ctx: DoctorContext, unit: string): CheckResult {
  // The user manager needs a runtime dir; without a login session, a temp one does for a verify.
  const runtime = ctx.env.XDG_RUNTIME_DIR ? null : mkdtempSync(join(tmpdir(), 'xopc-doctor-'));
  try {
    const run = spawnSync('systemd-analyze', ['verify', '--user', unit], {
      encoding: 'utf8',
      timeout: TOOL_TIMEOUT_MS,
      env: { ...ctx.env, ...(runtime ? { XDG_RUNTIME_DIR: runtime } : {}) },
    });
    if (run.error) return result('service.unit', 'skip', `systemd-analyze is not available (${(run.error as NodeJS.ErrnoException).code ?? run.error.message})`);
    const output = `${run.stdout}${run.stderr}`.trim();
    if (run.status === 0 && output === '') return result('service.unit', 'ok', `systemd-analyze verify found nothing wrong in ${unit}`);
    return result('service.unit', 'fail', `systemd-analyze verify: ${output.split('\n')[0] || `exit code ${run.status}`}`, { fix: 'Reinstall the unit: xopc gateway install' });
  } finally {
    if (runtime) rmSync(runtime, { recursive: true, force: true });
  }
}

function checkLinger(ctx: DoctorContext): CheckResult {
  const user = username(ctx.env);
  const fix = `sudo loginctl enable-linger ${user}`;
  const run = spawnSync('loginctl', ['show-user', user, '--property=Linger'], { encoding: 'utf8', timeout: TOOL_TIMEOUT_MS });
  const answer = run.status === 0 ? /^Linger=(yes|no)\s*$/m.exec(run.stdout)?.[1] : undefined;
  // Without a reachable logind, systemd's own record of lingering users.
  const lingering = answer ? answer === 'yes' : existsSync(join('/var/lib/systemd/linger', user));
  return lingering
    ? result('service.linger', 'ok', `lingering is on for ${user}: the service runs without a login session`)
    : result('service.linger', 'warn', `lingering is off for ${user}: the service stops when ${user} logs out`, { fix });
}

function username(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER || 'user';
  }
}
