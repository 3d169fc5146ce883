import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildServiceSpec } from '../src/service/spec.js';
import { createLaunchdManager, LAUNCHD_LABEL, parseLaunchdPlist, renderLaunchdPlist } from '../src/service/launchd.js';
import type { ToolResult } from '../src/service/exec.js';
import { CLI, python, tempDir } from './service-helpers.js';
import { needsPackage } from './helpers/system-package.js';

function spec(root: string) {
  return buildServiceSpec({
    runtime: 'node', port: 18790, effectiveHost: '0.0.0.0', drainTimeoutMs: 5000,
    home: join(root, 'Users', 'ann & co'), logDir: join(root, 'logs <x>'),
    env: { XOPC_HOME: join(root, "state 'q' \"dq\" & <tag>") }, cliPath: CLI,
  }).spec;
}

// plistlib is a real property-list parser (the format plutil reads); it prints the keys it found.
const LOAD_PLIST = 'import plistlib,sys,json; d=plistlib.load(open(sys.argv[1],"rb")); print(json.dumps(d))';

test('the LaunchAgent parses as a property list with the keys launchd needs', { skip: needsPackage('python3', 'python3') }, (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const s = spec(dir);
  const path = join(dir, `${LAUNCHD_LABEL}.plist`);
  writeFileSync(path, renderLaunchdPlist(s));
  const result = python(LOAD_PLIST, [path]);
  assert.equal(result.code, 0, result.stderr);
  const plist = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.equal(plist.Label, LAUNCHD_LABEL);
  assert.deepEqual(plist.ProgramArguments, [s.program, ...s.args]);
  assert.equal(plist.WorkingDirectory, s.workingDir);
  assert.equal(plist.RunAtLoad, true);
  assert.equal(plist.KeepAlive, true);
  // KeepAlive with LaunchOnlyOnce contradicts itself: never set it.
  assert.equal('LaunchOnlyOnce' in plist, false);
  assert.equal(plist.ThrottleInterval, 10);
  assert.equal(plist.ExitTimeOut, 15);
  assert.equal(plist.StandardOutPath, join(s.logDir, 'launchd.out.log'));
  assert.equal(plist.StandardErrorPath, join(s.logDir, 'launchd.err.log'));
  assert.deepEqual(plist.EnvironmentVariables, { XOPC_SERVICE_MARKER: 'launchd', XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_HOME: s.env.XOPC_HOME });
  assert.doesNotMatch(readable(plist), /token/i);
});

function readable(value: unknown): string {
  return JSON.stringify(value);
}

test('the plist reads back to the same command line and environment', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const s = spec(dir);
  const parsed = parseLaunchdPlist(renderLaunchdPlist(s));
  assert.deepEqual(parsed, { program: s.program, args: s.args, workingDir: s.workingDir, env: { XOPC_SERVICE_MARKER: 'launchd', ...s.env } });
});

function fakeLaunchctl(loaded: () => boolean) {
  const calls: string[] = [];
  const run = async (command: string, args: string[]): Promise<ToolResult> => {
    calls.push([command, ...args].join(' '));
    if (args[0] === 'print') {
      return loaded()
        ? { code: 0, stdout: `gui/501/${LAUNCHD_LABEL} = {\n\tstate = running\n\tpid = 4321\n}\n`, stderr: '' }
        : { code: 113, stdout: '', stderr: `Could not find service "${LAUNCHD_LABEL}" in domain for port` };
    }
    return { code: 0, stdout: '', stderr: '' };
  };
  return { calls, run };
}

test('install bootstraps into gui/<uid>; reinstalling unchanged only kickstarts; uninstall boots out and removes', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  let loaded = false;
  const { calls, run } = fakeLaunchctl(() => loaded);
  const manager = createLaunchdManager({ run, env: {}, home: dir, username: 'ann', uid: 501 });
  const s = spec(dir);
  const first = await manager.install(s);
  assert.equal(first.problem, null);
  assert.ok(existsSync(manager.definitionPath));
  assert.ok(existsSync(s.logDir), 'launchd does not create the log directory itself');
  assert.ok(calls.includes(`launchctl bootstrap gui/501 ${manager.definitionPath}`));
  loaded = true;
  calls.length = 0;
  const second = await manager.install(s);
  assert.equal(second.changed, false);
  assert.ok(calls.includes(`launchctl kickstart gui/501/${LAUNCHD_LABEL}`));
  assert.ok(!calls.some((c) => c.includes('bootstrap') || c.includes('bootout')));
  const status = await manager.status();
  assert.deepEqual([status.state, status.pid], ['running', 4321]);
  calls.length = 0;
  const removed = await manager.uninstall();
  assert.ok(calls.includes(`launchctl bootout gui/501/${LAUNCHD_LABEL}`));
  assert.deepEqual(removed.removed, [manager.definitionPath]);
  assert.ok(!existsSync(manager.definitionPath));
  assert.equal(manager.nativeCommands().restart, `launchctl kickstart -k gui/501/${LAUNCHD_LABEL}`);
});

test('a missing GUI session is explained in one line', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const run = async (_c: string, args: string[]): Promise<ToolResult> =>
    args[0] === 'print' ? { code: 113, stdout: '', stderr: 'Could not find service' } : { code: 5, stdout: '', stderr: 'Bootstrap failed: 125: Domain does not support specified action\n' };
  const manager = createLaunchdManager({ run, env: {}, home: dir, username: 'ann', uid: 501 });
  const result = await manager.install(spec(dir));
  assert.match(result.problem!, /^No GUI login session for uid 501 .*log in to the desktop/);
  assert.ok(existsSync(manager.definitionPath));
});
