/**
 * Typed validators for the config file: each one checks a JSON value and returns it with
 * defaults filled in, or throws an Invalid naming the key and what is wrong. Written here
 * rather than taken from zod or valibot because every process and CLI command loads the
 * config: zod cost the supervisor ~14 MB of memory and ~70 ms of start-up, valibot ~1 MB
 * and ~5-10 ms, this nothing measurable. Messages never quote the value (it may be a secret).
 */

export type Validator<T> = (value: unknown) => T;
export type Infer<V> = V extends Validator<infer T> ? T : never;

/** What is wrong and where: `path` is filled in by the objects and arrays it passes through. */
export class Invalid extends Error {
  readonly path: Array<string | number> = [];
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function expect(type: string, value: unknown): never {
  throw new Invalid(`expected ${type}, received ${typeName(value)}`);
}

/** A string; `min` characters at least, matching `pattern` (with `message` saying what it must look like), or a URL. */
export function string(rules: { min?: number; pattern?: RegExp; url?: boolean; message?: string } = {}): Validator<string> {
  return (value) => {
    if (typeof value !== 'string') expect('string', value);
    if (rules.min !== undefined && value.length < rules.min) throw new Invalid(rules.message ?? (rules.min === 1 ? 'must not be empty' : `must be at least ${rules.min} characters`));
    if (rules.pattern && !rules.pattern.test(value)) throw new Invalid(rules.message ?? `must match ${rules.pattern}`);
    if (rules.url && !URL.canParse(value)) throw new Invalid(rules.message ?? 'must be a URL');
    return value;
  };
}

/** An integer from `min` to `max`. */
export function integer(min: number, max: number = Number.MAX_SAFE_INTEGER): Validator<number> {
  return (value) => {
    if (typeof value !== 'number') expect('number', value);
    if (!Number.isSafeInteger(value)) throw new Invalid('must be an integer');
    if (value < min || value > max) throw new Invalid(max === Number.MAX_SAFE_INTEGER ? `must be at least ${min}` : `must be from ${min} to ${max}`);
    return value;
  };
}

export function boolean(): Validator<boolean> {
  return (value) => (typeof value === 'boolean' ? value : expect('boolean', value));
}

/** One of the given strings. */
export function oneOf<const T extends string>(values: readonly T[]): Validator<T> {
  const expected = values.map((v) => JSON.stringify(v)).join('|');
  return (value) => {
    if (!values.includes(value as T)) throw new Invalid(`expected one of ${expected}`);
    return value as T;
  };
}

export function nullable<T>(validator: Validator<T>): Validator<T | null> {
  return (value) => (value === null ? null : validator(value));
}

/** `fallback` when the key is missing; it goes through `validator` too (`{}` gets an object's own defaults). */
export function withDefault<T>(validator: Validator<T>, fallback: unknown): Validator<T> {
  return (value) => validator(value === undefined ? fallback : value);
}

/** The first of two validators that accepts the value; `message` when neither does. */
export function either<A, B>(first: Validator<A>, second: Validator<B>, message: string): Validator<A | B> {
  return (value) => {
    for (const validator of [first, second]) {
      try {
        return validator(value);
      } catch (err) {
        if (!(err instanceof Invalid)) throw err;
      }
    }
    throw new Invalid(message);
  };
}

export function array<T>(item: Validator<T>): Validator<T[]> {
  return (value) => {
    if (!Array.isArray(value)) expect('array', value);
    return value.map((element, index) => at(index, () => item(element)));
  };
}

/** An object whose every value passes `item` (keys are free). */
export function record<T>(item: Validator<T>): Validator<Record<string, T>> {
  return (value) => {
    const input = plainObject(value);
    const out: Record<string, T> = {};
    for (const [key, element] of Object.entries(input)) define(out, key, at(key, () => item(element)));
    return out;
  };
}

type Shape = Record<string, Validator<unknown>>;
type ShapeOutput<S extends Shape> = { [K in keyof S]: Infer<S[K]> } & { [key: string]: unknown };
/** A rule across keys: returns the key to blame and why, or null when the object is fine. */
type Rule<S extends Shape> = (value: ShapeOutput<S>) => [key: string, message: string] | null;

/**
 * An object with these keys; keys it does not know are kept as they are, so a config
 * written for a newer gateway survives an older one. `rules` run once the keys are valid.
 */
export function looseObject<S extends Shape>(shape: S, rules: Array<Rule<S>> = []): Validator<ShapeOutput<S>> {
  return (value) => {
    const input = plainObject(value);
    const out: Record<string, unknown> = {};
    for (const [key, validator] of Object.entries(shape)) out[key] = at(key, () => validator(input[key]));
    for (const [key, element] of Object.entries(input)) if (!Object.hasOwn(shape, key)) define(out, key, element);
    for (const rule of rules) {
      const problem = rule(out as ShapeOutput<S>);
      if (problem) at(problem[0], () => { throw new Invalid(problem[1]); });
    }
    return out as ShapeOutput<S>;
  };
}

function plainObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) expect('object', value);
  return value as Record<string, unknown>;
}

/** Runs `check` for the value at `key`, adding the key to the path of what it throws. */
function at<T>(key: string | number, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof Invalid) err.path.unshift(key);
    throw err;
  }
}

/** Sets a key taken from the input; `__proto__` stays a plain key instead of replacing the prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
