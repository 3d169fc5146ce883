/**
 * How a config key is written: dotted names (`gateway.port`), an index or id in brackets
 * (`agents.list[0]`), and a name that holds a dot quoted in brackets
 * (`providers["ollama.lan"].apiKey`). Shared by the config's error messages and `xopc config`.
 */

/** A key that names nothing the schema or the file knows, or walks into a value that has no keys. */
export class ConfigKeyError extends Error {
  override name = 'ConfigKeyError';
}

// One segment of a key: a dotted name, `[name]`, or a quoted `["name"]` / `['name']`, which may hold dots and brackets.
const SEGMENT = /^(?:\.?([^.[\]"']+)|\[(?:"([^"]+)"|'([^']+)'|([^.[\]"']+))\])/;

/**
 * `agents.list[0].model` -> ['agents', 'list', '0', 'model'];
 * `providers["ollama.lan"].apiKey` -> ['providers', 'ollama.lan', 'apiKey'].
 * An empty segment or a stray bracket or quote is a ConfigKeyError.
 */
export function splitKey(key: string): string[] {
  const segments: string[] = [];
  let rest = key;
  while (rest !== '') {
    const match = SEGMENT.exec(rest);
    // A name after the first must follow a dot or come in brackets.
    if (!match || (segments.length > 0 && rest[0] !== '.' && rest[0] !== '[') || (segments.length === 0 && rest[0] === '.')) {
      throw new ConfigKeyError(`"${key}" is not a config key: write it as dotted names, e.g. gateway.port or agents.list.main.model (a name with a dot in brackets: providers["ollama.lan"].apiKey)`);
    }
    segments.push(match[1] ?? match[2] ?? match[3] ?? match[4]!);
    rest = rest.slice(match[0].length);
  }
  if (segments.length === 0) throw new ConfigKeyError('"" is not a config key: write it as dotted names, e.g. gateway.port or agents.list.main.model');
  return segments;
}

/** The key of `segments`, as splitKey reads it back: dotted names, a name with a dot (or bracket, quote) quoted in brackets. */
export function joinKey(segments: readonly string[]): string {
  return segments.reduce((key, segment) => appendKey(key, segment), '');
}

/** `key` with one more segment. */
export function appendKey(key: string, segment: string): string {
  if (/[.[\]"']/.test(segment)) return `${key}[${segment.includes('"') ? `'${segment}'` : `"${segment}"`}]`;
  return key === '' ? segment : `${key}.${segment}`;
}
