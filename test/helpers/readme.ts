import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Reading README.md for the tests that hold it true: its fenced code blocks, its HTTP API
 * table, and the loose object notation of that table's "success" column
 * (`{status:"ok", session:{key, ...}, items:[...]}`).
 */

/** The repository's README.md (this file runs from dist/test/helpers). */
export const README_PATH = fileURLToPath(new URL('../../../README.md', import.meta.url));

export function readReadme(): string {
  return readFileSync(README_PATH, 'utf8');
}

export interface CodeBlock {
  /** The info string after the opening fence (`sh`, `json`, ...). */
  lang: string;
  code: string;
  /** 1-based line of the opening fence, for messages. */
  line: number;
  /** The nearest `## ` heading above it. */
  section: string;
}

/** Every fenced (```) code block, in order. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('## ')) section = line.slice(3).trim();
    const open = /^```(\S*)\s*$/.exec(line);
    if (!open) continue;
    const end = lines.findIndex((candidate, index) => index > i && /^```\s*$/.test(candidate));
    if (end === -1) break;
    blocks.push({ lang: open[1]!, code: lines.slice(i + 1, end).join('\n'), line: i + 1, section });
    i = end;
  }
  return blocks;
}

/** One documented endpoint: a row of the `| method | path | body / query | success |` table. */
export interface ApiRow {
  method: string;
  /** Koa style, `/api/sessions/:key`. */
  path: string;
  /** The documented success status when the cell names one (`202 {...}`). */
  status?: number;
  /** The documented JSON answer, when the cell has one. */
  shape?: Shape;
  /** Matches a request path. */
  pattern: RegExp;
}

/**
 * The rows of every table whose header starts `| method | path |` (the HTTP API table, and
 * any other API's table written the same way); the answer is read from the column headed
 * `success`, else the last one.
 */
export function apiTable(markdown: string): ApiRow[] {
  const lines = markdown.split(/\r?\n/);
  const rows: ApiRow[] = [];
  const cellsOf = (line: string) => line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((cell) => cell.trim());
  for (let header = 0; header < lines.length; header++) {
    if (!/^\|\s*method\s*\|\s*path\s*\|/i.test(lines[header]!.trim())) continue;
    const titles = cellsOf(lines[header]!).map((title) => title.toLowerCase());
    const answerColumn = titles.includes('success') ? titles.indexOf('success') : titles.length - 1;
    let at = header + 2;
    // Cells are split on pipes that are not escaped (`\|` inside a cell).
    for (; at < lines.length && lines[at]!.trim().startsWith('|'); at++) {
      const cells = cellsOf(lines[at]!);
      const [method, path] = cells as [string, string];
      const answer = /`(?:(\d{3}) )?(\{[^`]*\})`/.exec(cells[answerColumn] ?? '');
      rows.push({
        method: method.toUpperCase(),
        path: path.replace(/`/g, ''),
        ...(answer?.[1] ? { status: Number(answer[1]) } : {}),
        ...(answer ? { shape: parseShape(answer[2]!) } : {}),
        pattern: new RegExp(`^${path.replace(/`/g, '').replace(/:[A-Za-z_]+/g, '[^/]+')}$`),
      });
    }
    header = at;
  }
  if (rows.length === 0) throw new Error('README.md has no "| method | path | ... |" table');
  return rows;
}

/** A documented object: each key, whether it is optional, and what is known of its value. */
export type Shape = Map<string, { optional: boolean; value: Shape | { literal: string } | 'array' | null }>;

/** Parses `{status:"ok", reply, session?, items:[...], inner:{a, ...}}`; `...` entries are skipped. */
export function parseShape(text: string): Shape {
  let at = 0;
  const skipSpace = () => {
    while (at < text.length && /[\s,]/.test(text[at]!)) at++;
  };
  const expect = (char: string) => {
    if (text[at] !== char) throw new Error(`expected "${char}" at ${at} in ${text}`);
    at++;
  };
  const skipBalanced = (open: string, close: string) => {
    let depth = 0;
    do {
      if (text[at] === open) depth++;
      if (text[at] === close) depth--;
      at++;
    } while (depth > 0 && at < text.length);
  };
  const value = (): Shape | { literal: string } | 'array' | null => {
    if (text[at] === '{') return object();
    if (text[at] === '[') {
      skipBalanced('[', ']');
      return 'array';
    }
    if (text[at] === '"') {
      const end = text.indexOf('"', at + 1);
      const literal = text.slice(at + 1, end);
      at = end + 1;
      return { literal };
    }
    while (at < text.length && !/[,}]/.test(text[at]!)) at++;
    return null;
  };
  const object = (): Shape => {
    const shape: Shape = new Map();
    expect('{');
    for (skipSpace(); text[at] !== '}'; skipSpace()) {
      if (text.startsWith('...', at)) {
        at += 3;
        continue;
      }
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(at))?.[0];
      if (!name) throw new Error(`expected a key at ${at} in ${text}`);
      at += name.length;
      const optional = text[at] === '?';
      if (optional) at++;
      let entry: Shape | { literal: string } | 'array' | null = null;
      if (text[at] === ':') {
        at++;
        entry = value();
      } else if (text[at] === '=') {
        at++;
        value();
      }
      shape.set(name, { optional, value: entry });
    }
    expect('}');
    return shape;
  };
  return object();
}

/** What in `value` differs from `shape` (missing keys, other literals, non-arrays); empty when it conforms. */
export function shapeErrors(shape: Shape, value: unknown, where = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${where || 'the answer'} is not an object`];
  const errors: string[] = [];
  for (const [key, { optional, value: expected }] of shape) {
    const path = where ? `${where}.${key}` : key;
    const actual = (value as Record<string, unknown>)[key];
    if (actual === undefined) {
      if (!optional) errors.push(`${path} is missing`);
      continue;
    }
    if (expected === 'array' && !Array.isArray(actual)) errors.push(`${path} is not an array`);
    if (expected instanceof Map) errors.push(...shapeErrors(expected, actual, path));
    if (expected !== null && typeof expected === 'object' && !(expected instanceof Map) && actual !== expected.literal) {
      errors.push(`${path} is ${JSON.stringify(actual)}, documented "${expected.literal}"`);
    }
  }
  return errors;
}
