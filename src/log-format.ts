import { entryLevel, entryTime, parseEntry, type LogEntry } from './log-reader.js';

export interface PrettyOptions {
  /** ANSI colours (only for a terminal). */
  colorize: boolean;
}

const LEVEL_LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '34', 30: '32', 40: '33', 50: '31', 60: '41;97' };
/** Keys shown in the line's head, or not worth showing at all. */
const HEAD_KEYS = new Set(['level', 'time', 'pid', 'proc', 'component', 'msg', 'hostname', 'v', 'err']);

/**
 * Turns one pino JSON line into one line for humans:
 * `12:03:04.123 INFO  worker[4242] http: request done method=GET status=200 ms=3`.
 * An `err` shows its message inline and its stack on the following lines. A line that
 * is not a JSON object comes back unchanged. Input and output carry no trailing newline.
 */
export function createPrettyFormatter(options: PrettyOptions): (line: string) => string {
  const paint = options.colorize ? (code: string, text: string) => `\x1b[${code}m${text}\x1b[0m` : (_code: string, text: string) => text;

  return (line) => {
    const entry = parseEntry(line);
    if (!entry) return line;
    const parts: string[] = [];
    const time = entryTime(entry);
    if (time !== undefined) parts.push(paint('2', clock(time)));
    const level = entryLevel(entry);
    const label = LEVEL_LABELS[level] ?? (Number.isNaN(level) ? 'USER' : `L${level}`);
    parts.push(paint(LEVEL_COLORS[level] ?? '0', label.padEnd(5)));
    const tag = processTag(entry);
    if (tag) parts.push(paint('36', tag));
    if (entry.msg !== undefined) parts.push(visible(String(entry.msg)));
    const err = errorOf(entry.err);
    if (err?.code) parts.push(paint(LEVEL_COLORS[50]!, `code=${quote(err.code)}`));
    if (err?.message) parts.push(paint(LEVEL_COLORS[50]!, `err=${quote(err.message)}`));
    const fields = Object.entries(entry)
      .filter(([key]) => !HEAD_KEYS.has(key))
      .map(([key, value]) => `${key}=${formatValue(value)}`);
    if (fields.length > 0) parts.push(paint('2', fields.join(' ')));
    let text = parts.join(' ');
    // Each line painted on its own, so any tail of the lines (`logs --lines N`) stays well-formed.
    if (err?.stack) text += '\n' + indent(visible(err.stack, true)).split('\n').map((line) => paint('2', line)).join('\n');
    return text;
  };
}

/** `worker[4242] http:` from proc, pid and component. */
function processTag(entry: LogEntry): string {
  const proc = typeof entry.proc === 'string' ? entry.proc : '';
  const pid = typeof entry.pid === 'number' ? `[${entry.pid}]` : '';
  const component = typeof entry.component === 'string' ? ` ${entry.component}` : '';
  const tag = `${proc}${proc ? pid : ''}${component}`.trim();
  return tag ? `${visible(tag)}:` : '';
}

function clock(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function errorOf(value: unknown): { code?: string; message?: string; stack?: string } | undefined {
  if (typeof value === 'string') return { message: value };
  if (typeof value !== 'object' || value === null) return undefined;
  const { code, message, stack } = value as { code?: unknown; message?: unknown; stack?: unknown };
  return {
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message : undefined,
    stack: typeof stack === 'string' ? stack : undefined,
  };
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  return visible(JSON.stringify(value) ?? String(value));
}

/** Strings stay bare unless spaces, quotes or `=` would make the line ambiguous. */
function quote(text: string): string {
  return visible(text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text);
}

/**
 * Logged text can come from outside (chat messages, HTTP paths): escape control
 * characters so a line cannot move the cursor or recolour the operator's terminal.
 */
function visible(text: string, keepNewlines = false): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (keepNewlines && c === '\n') return c;
    return CONTROL_NAMES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

const CONTROL_NAMES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function indent(text: string): string {
  return text.split('\n').map((line) => `    ${line}`).join('\n');
}
