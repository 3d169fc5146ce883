import { CONFIG_SCHEMA, isSecretKey, maskToken } from './config.js';
import { appendKey, ConfigKeyError, joinKey, splitKey } from './config-key-syntax.js';

export { ConfigKeyError, joinKey, splitKey };

/**
 * Dotted config keys (`gateway.port`, `agents.list.main.model`) over the config schema and a
 * config object: which keys exist, reading, setting and removing one. Array elements are
 * addressed by their `id` when they have one (`agents.list.main`), else (or too) by index
 * (`agents.list.0`, also written `agents.list[0]`). A name with a dot in it is quoted in
 * brackets: `providers["ollama.lan"].apiKey`.
 */

/** The parts of a valibot schema this walk reads (object entries, record values, array items, wrappers). */
interface SchemaNode {
  type: string;
  entries?: Record<string, SchemaNode>;
  value?: SchemaNode;
  item?: SchemaNode;
  wrapped?: SchemaNode;
  default?: unknown;
}

const WRAPPERS = new Set(['optional', 'nullable', 'nullish', 'non_optional', 'non_nullable', 'non_nullish', 'exact_optional', 'undefinedable']);
const ROOT = CONFIG_SCHEMA as unknown as SchemaNode;

/** The schema without its optional/nullable wrappers. */
function unwrap(node: SchemaNode | undefined): SchemaNode | undefined {
  while (node && WRAPPERS.has(node.type) && node.wrapped) node = node.wrapped;
  return node;
}

/** The schema of `segment` under `node`, or undefined when the schema does not name it. */
function childSchema(node: SchemaNode | undefined, segment: string): SchemaNode | undefined {
  const base = unwrap(node);
  if (!base) return undefined;
  if (base.entries) return Object.hasOwn(base.entries, segment) ? base.entries[segment] : undefined;
  if (base.type === 'record') return base.value;
  if (base.type === 'array') return base.item;
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Whether the elements of this array schema are objects with an `id` (addressed by it). */
function itemsHaveId(node: SchemaNode | undefined): boolean {
  return Boolean(unwrap(unwrap(node)?.item)?.entries?.id);
}

/** The index `segment` names in `list`: the element whose id it is, else a plain index; -1 when none. */
function elementIndex(list: unknown[], segment: string): number {
  const byId = list.findIndex((element) => isObject(element) && element.id === segment);
  if (byId !== -1) return byId;
  return /^\d+$/.test(segment) && Number(segment) < list.length ? Number(segment) : -1;
}

/** How an element is named in a key: its id when it has one, else its index. */
function elementName(element: unknown, index: number): string {
  return isObject(element) && typeof element.id === 'string' && element.id !== '' ? element.id : String(index);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Every key the schema declares or `value` holds, parents before their children. */
export function knownKeys(value: unknown, node: SchemaNode | undefined = ROOT, prefix = ''): string[] {
  const base = unwrap(node);
  const keys: string[] = [];
  const visit = (name: string, childValue: unknown, child: SchemaNode | undefined) => {
    const key = appendKey(prefix, name);
    keys.push(key, ...knownKeys(childValue, child, key));
  };
  if (Array.isArray(value)) {
    value.forEach((element, index) => visit(elementName(element, index), element, base?.item));
  } else if (isObject(value) || base?.entries) {
    const object = isObject(value) ? value : {};
    const names = new Set([...Object.keys(base?.entries ?? {}), ...Object.keys(object)]);
    for (const name of names) visit(name, object[name], childSchema(base, name));
  }
  return keys;
}

/** Edit distance between two strings (Levenshtein), for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The `count` known keys nearest to `key` (fewest edits, then closest in depth). */
export function nearestKeys(key: string, value: unknown, count = 3): string[] {
  const depthOf = (text: string) => {
    try {
      return splitKey(text).length;
    } catch {
      return text.split('.').length;
    }
  };
  const depth = depthOf(key);
  return [...new Set(knownKeys(value))]
    .map((known) => ({ known, score: distance(key.toLowerCase(), known.toLowerCase()), depthGap: Math.abs(depthOf(known) - depth) }))
    .sort((a, b) => a.score - b.score || a.depthGap - b.depthGap)
    .slice(0, count)
    .map((entry) => entry.known);
}

function unknownKey(key: string, value: unknown): ConfigKeyError {
  const nearest = nearestKeys(key, value);
  return new ConfigKeyError(`Unknown config key "${key}"${nearest.length ? `; nearest known keys: ${nearest.join(', ')}` : ''}`);
}

/** What a key holds in `config`: `found` false when the schema knows the key but nothing is set there. */
export interface KeyValue {
  found: boolean;
  value: unknown;
}

/**
 * The value at `key` in `config` (a parsed config, defaults filled in, or a file's JSON).
 * A key the schema declares but `config` lacks reads as not found; any other miss is a
 * ConfigKeyError naming the nearest known keys.
 */
export function readKey(config: Record<string, unknown>, key: string): KeyValue {
  const segments = splitKey(key);
  let value: unknown = config;
  let node: SchemaNode | undefined = ROOT;
  for (const [i, segment] of segments.entries()) {
    const parentKey = joinKey(segments.slice(0, i));
    if (Array.isArray(value)) {
      const index = elementIndex(value, segment);
      if (index === -1) throw unknownKey(key, config);
      value = value[index];
    } else if (isObject(value)) {
      const known = childSchema(node, segment) !== undefined;
      if (!Object.hasOwn(value, segment) && !known) throw unknownKey(key, config);
      value = value[segment];
    } else if (value === undefined || value === null) {
      // Inside a part that is not set (a provider without settings): the schema says whether the key exists.
      if (childSchema(node, segment) === undefined) throw unknownKey(key, config);
    } else {
      throw new ConfigKeyError(`"${parentKey}" is ${kindOf(value)}, it has no key "${segment}"`);
    }
    node = childSchema(node, segment);
  }
  return { found: value !== undefined, value: value === undefined ? null : value };
}

/** The result of an edit: what the file held at the key before (undefined: nothing). */
export interface KeyEdit {
  before: unknown;
}

/**
 * Sets `key` to `value` in a config file's JSON, in place. Missing parents are created (a
 * list from the schema's default, so that setting `agents.list.ops.model` keeps the default
 * `main` agent); an element addressed by a new id is appended with that id; an index one past
 * the end appends. A key neither the schema nor the file knows is a ConfigKeyError.
 */
export function writeKey(raw: Record<string, unknown>, key: string, value: unknown): KeyEdit {
  const segments = splitKey(key);
  let container: Record<string, unknown> | unknown[] = raw;
  let node: SchemaNode | undefined = ROOT;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    const child = childSchema(node, segment);
    const slot = locate(container, segment, node, key, raw);
    if (last) {
      const before = slot.get();
      // `agents.list.main '{"model": ...}'` replaces the element and keeps the id the key named.
      const keepsId = before !== undefined && Array.isArray(container) && itemsHaveId(node) && isObject(value) && value.id === undefined && !/^\d+$/.test(segment);
      slot.set(keepsId ? { id: segment, ...value } : value);
      return { before };
    }
    let next = slot.get();
    if (next === undefined || next === null) {
      const fallback = unwrap(child)?.type === 'array' ? structuredClone(defaultOf(child) ?? []) : {};
      slot.set(fallback);
      next = slot.get();
    }
    if (!isObject(next) && !Array.isArray(next)) throw new ConfigKeyError(`"${joinKey(segments.slice(0, i + 1))}" is ${kindOf(next)}, it has no key "${segments[i + 1]}"`);
    container = next;
    node = child;
  }
  throw new ConfigKeyError('empty key');
}

/** Removes `key` from a config file's JSON, in place (a list element is taken out of its list); `before` undefined: it was not set. */
export function removeKey(raw: Record<string, unknown>, key: string): KeyEdit {
  const segments = splitKey(key);
  let container: unknown = raw;
  let node: SchemaNode | undefined = ROOT;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    if (Array.isArray(container)) {
      const index = elementIndex(container, segment);
      if (index === -1) return checkKnown(key, raw, node, segment);
      if (last) return { before: container.splice(index, 1)[0] };
      container = container[index];
    } else if (isObject(container)) {
      if (!Object.hasOwn(container, segment)) return checkKnown(key, raw, node, segment);
      if (last) {
        const before = container[segment];
        delete container[segment];
        return { before };
      }
      container = container[segment];
    } else {
      return checkKnown(key, raw, node, segment);
    }
    node = childSchema(node, segment);
  }
  return { before: undefined };
}

/** Nothing to remove: fine for a key the schema knows, a ConfigKeyError for any other. */
function checkKnown(key: string, raw: Record<string, unknown>, node: SchemaNode | undefined, segment: string): KeyEdit {
  if (childSchema(node, segment) === undefined) throw unknownKey(key, raw);
  return { before: undefined };
}

function defaultOf(node: SchemaNode | undefined): unknown {
  for (let current = node; current && WRAPPERS.has(current.type); current = current.wrapped) {
    if (current.default !== undefined) return typeof current.default === 'function' ? (current.default as () => unknown)() : current.default;
  }
  return undefined;
}

/** One place in a container: read it, write it. */
interface Slot {
  get(): unknown;
  set(value: unknown): void;
}

function locate(container: Record<string, unknown> | unknown[], segment: string, node: SchemaNode | undefined, key: string, raw: Record<string, unknown>): Slot {
  if (Array.isArray(container)) {
    const index = elementIndex(container, segment);
    if (index !== -1) return { get: () => container[index], set: (value) => (container[index] = value) };
    const appendsById = itemsHaveId(node) && !/^\d+$/.test(segment);
    if (appendsById || segment === String(container.length)) {
      // A new element: created on write, addressed by the id the key gave it.
      let created = -1;
      return {
        get: () => (created === -1 ? undefined : container[created]),
        set: (value) => {
          const element = appendsById && isObject(value) && value.id === undefined ? { id: segment, ...value } : value;
          if (created === -1) created = container.push(element) - 1;
          else container[created] = element;
        },
      };
    }
    throw new ConfigKeyError(`"${key}": the list has no element "${segment}" (it has ${container.length}: ${container.map(elementName).join(', ') || 'none'}; an index one past the end appends)`);
  }
  // Beyond the schema (a part of the file this version does not know) any key may be added.
  if (!Object.hasOwn(container, segment) && node !== undefined && childSchema(node, segment) === undefined) throw unknownKey(key, raw);
  return { get: () => container[segment], set: (value) => (container[segment] = value) };
}

/** `value` with every secret under `key` masked (maskToken), for printing. */
export function maskSecrets(value: unknown, key: string): unknown {
  if (typeof value === 'string') return isSecretKey(key) ? maskToken(value) : value;
  if (Array.isArray(value)) return value.map((element, index) => maskSecrets(element, appendKey(key, String(index))));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([name, child]) => [name, maskSecrets(child, appendKey(key, name))]));
  return value;
}
