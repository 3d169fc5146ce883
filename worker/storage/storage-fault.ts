import { ApiError, apiError } from '../http/errors.js';

/**
 * File system errors that say "the gateway cannot write its state right now" rather than
 * "this request is wrong": a full disk or quota, a read-only or failing file system, a
 * file or directory it may not (or can no longer) write. They clear when the operator
 * frees space or fixes the mount, so work that hits one is kept and retried.
 */
const FAULT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EFBIG', 'EMFILE', 'ENFILE', 'ESTALE']);

const DESCRIPTIONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'a directory is in the way',
  ENOTDIR: 'a file is in the way of a directory',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ESTALE: 'stale network file handle',
};

/** Retry-After of a STORAGE_UNAVAILABLE answer: long enough for an operator's quick fix, short enough to resume soon. */
export const STORAGE_RETRY_AFTER_S = 10;

/** The errno code of a storage fault, or null for any other error (a STORAGE_UNAVAILABLE ApiError keeps its cause's). */
export function storageFaultCode(err: unknown): string | null {
  if (err instanceof ApiError) return err.code === 'STORAGE_UNAVAILABLE' ? (storageFaultCode(err.cause) ?? 'EIO') : null;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && FAULT_CODES.has(code) ? code : null;
}

/** "ENOSPC (no space left on device)". */
export function describeStorageFault(code: string): string {
  return `${code} (${DESCRIPTIONS[code] ?? 'storage error'})`;
}

/** The client's view of a storage fault: 503 STORAGE_UNAVAILABLE with Retry-After; the error's path stays in the log. */
export function storageUnavailable(err: unknown): ApiError {
  const code = storageFaultCode(err) ?? 'EIO';
  const error = apiError('STORAGE_UNAVAILABLE', `The gateway cannot write its state: ${describeStorageFault(code)}. Nothing was changed; retry in ${STORAGE_RETRY_AFTER_S} s (GET /health says when it is writable again)`, { cause: err });
  error.headers['Retry-After'] = String(STORAGE_RETRY_AFTER_S);
  error.retryable = true;
  return error;
}
