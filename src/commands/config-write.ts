import { readFileSync } from 'node:fs';
import { CliError, EXIT } from '../cli-error.js';
import { configIssues, parseConfig, RESTART_ONLY_KEYS, type ConfigIssue } from '../config.js';
import { readConfigText, withConfigLock, writeConfigText } from '../config-file.js';
import { joinKey, maskSecrets, readKey, removeKey, splitKey, writeKey, type KeyEdit } from '../config-keys.js';
import { lockPath as resolveLockPath, configPath as resolveConfigPath } from '../paths.js';
import { readLock } from '../lock.js';
import type { TargetOptions } from './common.js';
import { envOverrideNotes, withKeyErrors } from './config-read.js';

export interface UnsetOptions extends TargetOptions {
  json?: boolean;
  showSecrets?: boolean;
}

export interface SetOptions extends UnsetOptions {
  string?: boolean;
  stdin?: boolean;
  '--'?: string[];
}

/**
 * The value as typed: JSON when it parses (`8080`, `true`, `null`, `["a"]`, `{"x": 1}`),
 * else the text itself; `--string` always the text. `--stdin` reads it from standard input
 * (one final newline dropped); after `--` a value may start with a dash.
 */
function valueOf(typed: string | undefined, options: SetOptions): { value: unknown } {
  let text = typed ?? options['--']?.[0];
  if (options.stdin) {
    if (text !== undefined) throw new CliError('Give the value either on the command line or with --stdin, not both', EXIT.USAGE);
    text = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  }
  if (text === undefined) throw new CliError('Missing the value: xopc config set <key> <value> (or --stdin)', EXIT.USAGE);
  if (options.string) return { value: text };
  try {
    return { value: JSON.parse(text) };
  } catch {
    return { value: text };
  }
}

/** `xopc config set <key> <value>`: edits the file, validated with the gateway's schema, written atomically. */
export async function setConfigValue(key: string, typed: string | undefined, options: SetOptions): Promise<number> {
  const { value } = valueOf(typed, options);
  // The value itself is not repeated: it may be a secret.
  const hint = typeof value !== 'string' && !options.string ? ` (the value was read as JSON ${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value}; --string takes it as text)` : '';
  return editConfig(key, options, (raw) => writeKey(raw, key, value), hint);
}

/** `xopc config unset <key>`: removes the key from the file (its default applies again). */
export async function unsetConfigValue(key: string, options: UnsetOptions): Promise<number> {
  return editConfig(key, options, (raw) => removeKey(raw, key), '');
}

/** The value a config gives at `key`, defaults filled in; NO_VALUE when the config is invalid or has no such key. */
function effectiveValue(raw: Record<string, unknown>, key: string): unknown {
  try {
    return readKey(parseConfig(raw) as Record<string, unknown>, key).value;
  } catch {
    return NO_VALUE;
  }
}

const NO_VALUE = Symbol('no value');

/** Whether the file's JSON holds `key` (a removed list element: no). */
function isInFile(raw: Record<string, unknown>, key: string): boolean {
  try {
    return readKey(raw, key).found;
  } catch {
    return false;
  }
}

/**
 * Reads the file, applies `edit` to a copy, refuses a copy the schema rejects (the file is not
 * touched), writes it atomically when it differs, and says what changed and what applies it.
 */
async function editConfig(key: string, options: UnsetOptions, edit: (raw: Record<string, unknown>) => KeyEdit, hint: string): Promise<number> {
  const configPath = resolveConfigPath(options.config);
  const dotted = withKeyErrors(() => joinKey(splitKey(key)));
  const mask = (value: unknown) => (options.showSecrets ? value : maskSecrets(value, dotted));

  const result = await withConfigLock(configPath, () => {
    const file = readConfigText(configPath);
    const next = structuredClone(file.raw);
    const { before } = withKeyErrors(() => edit(next));
    const problems = configIssues(next);
    if (problems.length > 0) throw refusal(problems, configIssues(file.raw), dotted, hint);
    const changed = JSON.stringify(next) !== JSON.stringify(file.raw);
    if (changed) writeConfigText(file, next);
    return { file, next, before, changed };
  });

  // An invalid file has no effective values: then what it held.
  const known = (value: unknown) => (value === NO_VALUE ? undefined : value);
  const before = known(effectiveValue(result.file.raw, dotted)) ?? result.before;
  const after = known(effectiveValue(result.next, dotted));
  const show = (value: unknown, inFile: boolean) => (value === undefined ? 'nothing' : `${JSON.stringify(mask(value))}${inFile ? '' : ' (default)'}`);
  const inFileAfter = isInFile(result.next, dotted);
  const change = `${dotted}: ${show(before, result.before !== undefined)} → ${show(after, inFileAfter)}`;

  const notes: string[] = [];
  let gateway: { pid: number } | null = null;
  if (result.changed) {
    if (!result.file.exists) notes.push(`Created ${result.file.path} (mode 0600)`);
    const lock = readLock(resolveLockPath(configPath));
    if (lock.state === 'held') {
      gateway = { pid: lock.info.pid };
      const needsStart = RESTART_ONLY_KEYS.filter((restartKey) => JSON.stringify(effectiveValue(result.file.raw, restartKey)) !== JSON.stringify(effectiveValue(result.next, restartKey)));
      notes.push(`The running gateway (pid ${gateway.pid}) watches this file and applies the change by itself, without dropping a request (\`xopc gateway logs\` shows it; \`xopc gateway status\` says when the file is invalid).`);
      if (needsStart.length > 0) notes.push(`${needsStart.join(', ')}: ${needsStart.length === 1 ? 'this key changes' : 'these keys change'} only when the gateway starts anew (the supervisor holds the listening socket and the log file from its start, and a restart keeps them): stop it (\`xopc gateway stop\`) and start it again; the rest of the change applies now.`);
    }
  }
  notes.push(...envOverrideNotes(dotted));
  if (options.json) {
    console.log(JSON.stringify({ key: dotted, changed: result.changed, before: mask(before) ?? null, after: mask(after) ?? null, configPath: result.file.path, gatewayPid: gateway?.pid ?? null, notes }, null, 2));
  } else {
    // The change first, then what follows from it.
    console.log([result.changed ? `✅ ${change}` : `Unchanged: ${dotted} is ${show(after, inFileAfter)} already`, ...notes.map((note) => `   ${note}`)].join('\n'));
  }
  return EXIT.OK;
}

/** The refusal of an edit the schema rejects: each problem as `key: message`, those the file had before marked so. */
function refusal(problems: ConfigIssue[], before: ConfigIssue[], key: string, hint: string): CliError {
  const old = new Set(before.map((issue) => `${issue.key}: ${issue.message}`));
  const lines = problems.map((problem) => {
    const line = `${problem.key}: ${problem.message}`;
    if (old.has(line)) return `${line} (already so in the file)`;
    const wantedText = /Expected [^:]*string/.test(problem.message);
    return wantedText && (problem.key === key || problem.key.startsWith(`${key}.`)) ? `${line}${hint}` : line;
  });
  return new CliError(`Not changed: the config would be invalid: ${lines.join('; ')}`);
}
