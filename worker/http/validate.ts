import * as v from 'valibot';
import { apiError } from './errors.js';

const OBJECT_TYPES = new Set(['object', 'loose_object', 'strict_object', 'object_with_rest']);

/**
 * Validates a request part with a route's schema: the parsed output, or INVALID_REQUEST
 * carrying the first issue's message (each schema says in its own words what is wrong).
 */
export function parseInput<S extends v.GenericSchema>(schema: S, value: unknown): v.InferOutput<S> {
  // valibot's objects take arrays (typeof [] is "object"); a JSON array is no JSON object,
  // so it gets the object's own "must be an object" message, as null would.
  const result = v.safeParse(schema, Array.isArray(value) && OBJECT_TYPES.has(schema.type) ? null : value, { abortEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  throw apiError('INVALID_REQUEST', missingKeyMessage(schema, issue) ?? issue.message);
}

/**
 * valibot reports a missing key with the enclosing object's message; the key's own schema
 * says better what is wanted ("message is required: ..."), so ask it about `undefined`.
 */
function missingKeyMessage(schema: v.GenericSchema, issue: v.BaseIssue<unknown>): string | undefined {
  if (issue.type !== 'object' || issue.input !== undefined || !issue.path?.length) return undefined;
  let entry: unknown = schema;
  for (const item of issue.path) entry = entriesOf(entry)?.[String(item.key)];
  if (!entry) return undefined;
  const own = v.safeParse(entry as v.GenericSchema, undefined);
  return own.success ? undefined : own.issues[0].message;
}

function entriesOf(schema: unknown): Record<string, unknown> | undefined {
  const candidate = schema as { entries?: Record<string, unknown>; pipe?: unknown[] };
  return candidate.entries ?? (candidate.pipe ? entriesOf(candidate.pipe[0]) : undefined);
}

/**
 * A query parameter's text. A parameter repeated in the URL arrives as an array and is
 * refused as such, rather than one of its values being picked silently.
 */
export function queryText(name: string, message: string) {
  return v.string((issue) => (Array.isArray(issue.input) ? `${name} must be given once` : message));
}

/**
 * A non-negative integer query parameter between `min` and `max`; documented as an
 * integer (the document describes what it is after parsing).
 */
export function queryInteger(name: string, min: number, max: number) {
  const message = `${name} must be an integer between ${min} and ${max}`;
  return v.pipe(
    queryText(name, message),
    v.regex(/^\d{1,15}$/, message),
    v.transform(Number),
    v.number(),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
}
