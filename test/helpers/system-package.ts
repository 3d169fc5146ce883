import { spawnSync } from 'node:child_process';

/**
 * The `skip` option for a test that needs a command from a Debian package.
 *
 * Present: the test runs. Missing with `CI` unset (a developer's fresh machine): the test is
 * skipped with one line that names the package and how to install it. Missing with `CI` set:
 * the test runs and fails on the missing tool, because `.ci/run` installs every package and a
 * skip there would hide a broken install step.
 */
export function needsPackage(command: string, debianPackage: string): false | string {
  if (hasCommand(command) || process.env.CI) return false;
  return `needs \`${command}\` (Debian package ${debianPackage}: apt-get install -y --no-install-recommends ${debianPackage})`;
}

/** True when `command` is an executable on PATH, or an executable absolute path. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v '${command.replace(/'/g, `'\\''`)}'`], { stdio: 'ignore' }).status === 0;
}
