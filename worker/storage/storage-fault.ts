import { describeStorageFault, storageErrnoCode } from '../../src/storage-errors.js';
import { ApiError, apiError } from '../http/errors.js';

export { describeStorageFault };

/** Retry-After of a STORAGE_UNAVAILABLE answer: long enough for an operator's quick fix, short enough to resume soon. */
export const STORAGE_RETRY_AFTER_S = 10;

/** The errno code of a storage fault (see src/storage-errors.ts), or null for any other error; a STORAGE_UNAVAILABLE ApiError gives its cause's. */
export function storageFaultCode(err: unknown): string | null {
  if (err instanceof ApiError) return err.code === 'STORAGE_UNAVAILABLE' ? (storageFaultCode(err.cause) ?? 'EIO') : null;
  return storageErrnoCode(err);
}

/** The client's view of a storage fault: 503 STORAGE_UNAVAILABLE with Retry-After; the error's path stays in the log. */
export function storageUnavailable(err: unknown): ApiError {
  const code = storageFaultCode(err) ?? 'EIO';
  const error = apiError('STORAGE_UNAVAILABLE', `The gateway cannot write its state: ${describeStorageFault(code)}. Nothing was changed; retry in ${STORAGE_RETRY_AFTER_S} s (GET /health says when it is writable again)`, { cause: err });
  error.headers['Retry-After'] = String(STORAGE_RETRY_AFTER_S);
  error.retryable = true;
  return error;
}
