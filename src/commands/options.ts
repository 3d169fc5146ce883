import { CliError, EXIT } from '../cli-error.js';

/** Parses an integer option, or fails with a usage error naming the option. */
export function intOption(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`--${name} must be an integer from ${min} to ${max} (got ${String(value)})`, EXIT.USAGE);
  return n;
}
