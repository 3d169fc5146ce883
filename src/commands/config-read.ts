import { existsSync } from 'node:fs';
import { CliError, EXIT } from '../cli-error.js';
import { configIssues, ENV_OVERRIDES, parseConfig, readRawConfig, type ConfigIssue } from '../config.js';
import { fileIssues } from '../config-file.js';
import { ConfigKeyError, joinKey, maskSecrets, readKey, splitKey } from '../config-keys.js';
import { configPath as resolveConfigPath } from '../paths.js';
import type { TargetOptions } from './common.js';

export interface GetOptions extends TargetOptions {
  json?: boolean;
  showSecrets?: boolean;
}

export interface ValidateOptions extends TargetOptions {
  json?: boolean;
}

/** A key that names nothing is a mistake on the command line: exit 2 with the nearest keys. */
export function withKeyErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof ConfigKeyError) throw new CliError(err.message, EXIT.USAGE);
    throw err;
  }
}

/**
 * What the environment of this command changes at `key` or under it (whole config: all):
 * the product's variables beat the file, for a gateway started with them.
 */
export function envOverrideNotes(key: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const dotted = key === undefined ? '' : joinKey(splitKey(key));
  return ENV_OVERRIDES.filter(({ key: overridden, variable }) => env[variable] && (dotted === '' || overridden === dotted || overridden.startsWith(`${dotted}.`))).map(
    ({ key: overridden, variable }) => `${variable} is set in this environment: a gateway started with it uses that instead of ${overridden} from the file`,
  );
}

/** `key: message` lines joined for one line of text. */
export function formatIssues(issues: ConfigIssue[]): string {
  return issues.map((issue) => `${issue.key}: ${issue.message}`).join('; ');
}

/** A value as `get` prints it: scalars plain, objects and lists as indented JSON; `json`: always JSON. */
function formatValue(value: unknown, json: boolean | undefined): string {
  if (!json && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) return String(value);
  return JSON.stringify(value, null, 2) ?? 'null';
}

/**
 * `xopc config get [key]`: the value in the config file with the defaults filled in, secrets
 * masked. Notes (an environment override, a file that is invalid) go to stderr so that stdout
 * stays the value alone.
 */
export function getConfigValue(key: string | undefined, options: GetOptions): number {
  const configPath = resolveConfigPath(options.config);
  const raw = readRawConfig(configPath);
  const issues = configIssues(raw);
  // An invalid file still answers, from what it holds, so that the broken value can be looked at.
  const source = issues.length === 0 ? (parseConfig(raw) as Record<string, unknown>) : raw;
  if (issues.length > 0) console.error(`⚠️  The config file is invalid (${formatIssues(issues)}): showing what it holds, without defaults`);
  const { value } = key === undefined ? { value: source } : withKeyErrors(() => readKey(source, key));
  const dotted = key === undefined ? '' : joinKey(splitKey(key));
  console.log(formatValue(options.showSecrets ? value : maskSecrets(value, dotted), options.json));
  for (const note of envOverrideNotes(key)) console.error(`ℹ️  ${note}`);
  return EXIT.OK;
}

/** `xopc config validate [--json]`: every problem of the file as `key: message`; exit 1 when there is one. */
export function validateConfigFile(options: ValidateOptions): number {
  const configPath = resolveConfigPath(options.config);
  const problems = fileIssues(configPath);
  if (options.json) {
    console.log(JSON.stringify({ valid: problems.length === 0, configPath, problems }, null, 2));
  } else if (problems.length === 0) {
    console.log(existsSync(configPath) ? `✅ ${configPath} is valid` : `✅ No config file at ${configPath}: the defaults apply`);
  } else {
    console.log([`❌ ${configPath} is invalid (${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}):`, ...problems.map((problem) => `   ${problem.key}: ${problem.message}`)].join('\n'));
  }
  return problems.length === 0 ? EXIT.OK : EXIT.FAILURE;
}
