import { EXIT } from '../cli-error.js';
import { VERSION } from '../version.js';
import type { ServiceSpec } from './spec.js';
import type { InstalledDefinition } from './types.js';

export const SYSTEMD_UNIT_NAME = 'xopc-gateway.service';

// Crash-loop guard: more than START_LIMIT_BURST starts within the interval and systemd gives
// up (`systemctl --user reset-failed` clears it). A SIGUSR1 restart counts as a start, so
// the burst leaves room for an operator restarting a few times in a row.
const START_LIMIT_INTERVAL_SEC = 60;
const START_LIMIT_BURST = 10;
// Delay before a restart: also the pause a SIGUSR1 restart costs under systemd.
const RESTART_SEC = 1;
// Exit codes a restart cannot fix: a bad command line, and another live gateway holding the lock.
const RESTART_PREVENT_EXIT_STATUS = [EXIT.USAGE, EXIT.ALREADY_RUNNING_SUPERVISED];

/**
 * Renders the systemd user unit. Restart=always, because a supervised SIGUSR1 restart is
 * the gateway exiting 0 and the manager starting it again. KillMode=mixed: SIGTERM goes to
 * the supervisor only, which drains its worker; whatever is left after TimeoutStopSec is killed.
 */
export function renderSystemdUnit(spec: ServiceSpec): string {
  const env = { XOPC_SERVICE_MARKER: 'systemd', ...spec.env };
  const lines = [
    `# Written by \`xopc gateway install\` (xopc ${VERSION}); \`xopc gateway uninstall\` removes it.`,
    '# Edit through `xopc gateway install` options: a reinstall rewrites this file.',
    '# The auth token is read from the config file at every start, never from here.',
    '[Unit]',
    'Description=xopc gateway (personal AI assistant)',
    `StartLimitIntervalSec=${START_LIMIT_INTERVAL_SEC}`,
    `StartLimitBurst=${START_LIMIT_BURST}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[spec.program, ...spec.args].map(quoteExecWord).join(' ')}`,
    `WorkingDirectory=${escapeSpecifiers(spec.workingDir)}`,
    ...Object.entries(env).map(([key, value]) => `Environment=${quoteValue(`${key}=${value}`)}`),
    'Restart=always',
    `RestartSec=${RESTART_SEC}`,
    `RestartPreventExitStatus=${RESTART_PREVENT_EXIT_STATUS.join(' ')}`,
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${spec.stopTimeoutSec}`,
    'SyslogIdentifier=xopc-gateway',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ];
  return lines.join('\n');
}

/** `%` starts a specifier in every unit setting; `%%` is a literal percent sign. */
function escapeSpecifiers(value: string): string {
  return value.replace(/%/g, '%%');
}

/** A double-quoted value with C-style escapes for `\` and `"` (systemd.syntax(7)). */
function quoteValue(value: string): string {
  return `"${escapeSpecifiers(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * One ExecStart word: `$` would expand a variable, so it is doubled; quoted unless plain.
 * (Prefixes such as `-` or `@` only mean something on the program, which is an absolute path.)
 */
function quoteExecWord(word: string): string {
  const escaped = word.replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return escapeSpecifiers(escaped);
  return quoteValue(escaped);
}

/**
 * Reads back what `renderSystemdUnit` wrote (and hand edits in the same syntax): the
 * ExecStart argv, the Environment pairs and WorkingDirectory, undoing quoting, escapes,
 * `%%` and `$$` the way systemd does.
 */
export function parseSystemdUnit(text: string): InstalledDefinition | null {
  let argv: string[] | null = null;
  let workingDir: string | null = null;
  const env: Record<string, string> = {};
  let section = '';
  for (const rawLine of joinContinuations(text)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'ExecStart') {
      argv = splitWords(value).map((word) => unescapeSpecifiers(word).replace(/\$\$/g, '$'));
    } else if (key === 'WorkingDirectory') {
      workingDir = unescapeSpecifiers(value.replace(/^-/, ''));
    } else if (key === 'Environment') {
      for (const word of splitWords(value)) {
        const pair = unescapeSpecifiers(word);
        const at = pair.indexOf('=');
        if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
      }
    }
  }
  if (!argv || argv.length === 0) return null;
  // Prefixes such as `-` or `@` only apply to an unquoted first word; ours never has one.
  const program = argv[0]!.replace(/^[@\-+!:]+/, '');
  return { program, args: argv.slice(1), workingDir, env };
}

function unescapeSpecifiers(value: string): string {
  return value.replace(/%%/g, '%');
}

function joinContinuations(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const line of text.split(/\r?\n/)) {
    if (line.endsWith('\\') && !line.trimStart().startsWith('#')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    out.push(pending + line);
    pending = '';
  }
  if (pending) out.push(pending);
  return out;
}

const C_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', s: ' ', '\\': '\\', '"': '"', "'": "'" };

/** Splits a value into words: whitespace separates, "..." and '...' group, C escapes apply. */
function splitWords(value: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && i + 1 < value.length) {
      const next = value[++i]!;
      if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
        current += String.fromCharCode(parseInt(value.slice(i + 1, i + 3), 16));
        i += 2;
      } else {
        current += C_ESCAPES[next] ?? next;
      }
      inWord = true;
    } else if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}
