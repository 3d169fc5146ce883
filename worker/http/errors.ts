/**
 * The one registry of API errors: every code, its HTTP status and what it means.
 * Handlers throw `apiError(code, message)`; the error middleware answers
 * `{"error": {"code", "message"}}`. test/errors.test.ts keeps this table and the
 * README's error table in step.
 */
export const ERROR_CODES = {
  INVALID_REQUEST: { status: 400, meaning: 'bad JSON, missing or wrongly typed field, bad cron expression' },
  UNAUTHORIZED: { status: 401, meaning: 'missing or wrong token' },
  NOT_FOUND: { status: 404, meaning: 'unknown route' },
  METHOD_NOT_ALLOWED: { status: 405, meaning: 'the path exists but not with this method; the Allow header lists the methods it takes' },
  CHANNEL_NOT_FOUND: { status: 404, meaning: 'channel not configured or not enabled' },
  SESSION_NOT_FOUND: { status: 404, meaning: 'no session with this key' },
  JOB_NOT_FOUND: { status: 404, meaning: 'no cron job with this id' },
  MESSAGE_NOT_FOUND: { status: 404, meaning: 'no accepted message with this id (or it was settled more than 24 h ago)' },
  MODEL_NOT_FOUND: { status: 404, meaning: 'OpenAI-compatible API: the model names no enabled agent' },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'body over gateway.bodyLimit' },
  RATE_LIMITED: { status: 429, meaning: 'too many failed auth attempts from one address (with Retry-After)' },
  BUSY: { status: 503, meaning: 'too many async messages waiting to be answered (POST /api/message); nothing was accepted; retry after Retry-After seconds' },
  STORAGE_UNAVAILABLE: { status: 503, meaning: 'the gateway cannot write its state (disk full, read-only, I/O error); nothing was changed; retry after Retry-After seconds' },
  AGENT_ERROR: { status: 502, meaning: 'model provider failed, timed out or is not configured (message says which)' },
  CHANNEL_ERROR: { status: 502, meaning: 'the channel refused or failed delivery' },
  INTERNAL_ERROR: { status: 500, meaning: 'anything else; no stack trace or secret in the body' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error whose code and message are meant for the client. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  /** The request field at fault, when one is (OpenAI's error shape reports it). */
  param?: string;
  /** Extra response headers (e.g. Retry-After). */
  headers: Record<string, string> = {};
  /**
   * For work done in the background (async messages): true when another try later may
   * succeed (a provider outage, a receiver's 5xx), false when it never will (a 4xx for
   * this very message). Unset: decided by the code.
   */
  retryable?: boolean;
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = ERROR_CODES[code].status;
  }
}

export function apiError(code: ErrorCode, message: string, options?: { cause?: unknown }): ApiError {
  return new ApiError(code, message, options);
}

/** The response body for an error. */
export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}
