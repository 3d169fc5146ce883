import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildServiceSpec } from '../src/service/spec.js';
import { createWindowsManager, renderWindowsWrapper, TASK_NAME, windowsTaskXmlPath, windowsWrapperPath } from '../src/service/windows.js';
import type { ToolResult } from '../src/service/exec.js';
import { python, tempDir } from './service-helpers.js';
import { needsPackage } from './helpers/system-package.js';

function spec(root: string) {
  return buildServiceSpec({
    runtime: 'node', port: 18790, effectiveHost: '0.0.0.0', drainTimeoutMs: 5000,
    home: 'C:\\Users\\Ann & Co', logDir: join(root, 'logs'),
    env: { XOPC_HOME: 'C:\\Users\\Ann & Co\\.xopc 100%' },
    execPath: 'C:\\Program Files\\nodejs\\node.exe', cliPath: 'C:\\xopc\\dist\\src\\cli.js', platform: 'win32',
  }).spec;
}

// ElementTree is a real XML parser; the file is UTF-16 with a BOM, as schtasks expects.
const READ_TASK = `
import sys, json, xml.etree.ElementTree as ET
ns = {'t': 'http://schemas.microsoft.com/windows/2004/02/mit/task'}
root = ET.parse(sys.argv[1]).getroot()
def text(path):
    el = root.find(path, ns)
    return None if el is None else (el.text or '')
print(json.dumps({
  'logon': root.find('t:Triggers/t:LogonTrigger', ns) is not None,
  'logonUser': text('t:Triggers/t:LogonTrigger/t:UserId'),
  'batteryStart': text('t:Settings/t:DisallowStartIfOnBatteries'),
  'batteryStop': text('t:Settings/t:StopIfGoingOnBatteries'),
  'limit': text('t:Settings/t:ExecutionTimeLimit'),
  'restartInterval': text('t:Settings/t:RestartOnFailure/t:Interval'),
  'restartCount': text('t:Settings/t:RestartOnFailure/t:Count'),
  'multiple': text('t:Settings/t:MultipleInstancesPolicy'),
  'command': text('t:Actions/t:Exec/t:Command'),
  'workdir': text('t:Actions/t:Exec/t:WorkingDirectory'),
}))
`;

test('the task XML is well-formed UTF-16 with logon trigger, no battery or time limits, restart on failure', { skip: needsPackage('python3', 'python3') }, async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const calls: string[] = [];
  const run = async (command: string, args: string[]): Promise<ToolResult> => {
    calls.push([command, ...args].join(' '));
    return { code: 0, stdout: '', stderr: '' };
  };
  const manager = createWindowsManager({ run, env: { USERDOMAIN: 'PC' }, home: 'C:\\Users\\Ann & Co', username: 'ann', uid: -1, stateDir: dir });
  const result = await manager.install(spec(dir));
  assert.equal(result.problem, null);
  const xmlPath = windowsTaskXmlPath(dir);
  assert.deepEqual([...readFileSync(xmlPath).subarray(0, 2)], [0xff, 0xfe]);
  const parsed = python(READ_TASK, [xmlPath]);
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.deepEqual(JSON.parse(parsed.stdout), {
    logon: true,
    logonUser: 'PC\\ann',
    batteryStart: 'false',
    batteryStop: 'false',
    limit: 'PT0S',
    restartInterval: 'PT1M',
    restartCount: '999',
    multiple: 'IgnoreNew',
    command: windowsWrapperPath(dir),
    workdir: 'C:\\Users\\Ann & Co',
  });
  assert.deepEqual(calls, [`schtasks /Create /TN ${TASK_NAME} /XML ${xmlPath} /F`, `schtasks /Run /TN ${TASK_NAME}`]);

  const status = await manager.status();
  assert.equal(status.definition?.program, 'C:\\Program Files\\nodejs\\node.exe');
  assert.equal(status.definition?.env.XOPC_HOME, 'C:\\Users\\Ann & Co\\.xopc 100%');

  const removed = await manager.uninstall();
  assert.deepEqual(removed.removed.sort(), [xmlPath, windowsWrapperPath(dir)].sort());
  assert.ok(calls.includes(`schtasks /Delete /TN ${TASK_NAME} /F`));
});

test('the wrapper sets the marker and in-process restarts, quotes paths and escapes %', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const wrapper = renderWindowsWrapper(spec(dir));
  const lines = wrapper.split('\r\n');
  assert.ok(lines.includes('set "XOPC_SERVICE_MARKER=schtasks"'));
  assert.ok(lines.includes('set "XOPC_NO_RESPAWN=1"'));
  assert.ok(lines.includes('set "XOPC_HOME=C:\\Users\\Ann & Co\\.xopc 100%%"'));
  assert.ok(lines.includes('"C:\\Program Files\\nodejs\\node.exe" "C:\\xopc\\dist\\src\\cli.js" "gateway" "--port" "18790"'));
  assert.doesNotMatch(wrapper, /token/i);
});
