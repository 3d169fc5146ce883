import { ERROR_CODES, type ErrorCode } from '../http/errors.js';

/** Paths of the OpenAI-compatible API, whose errors take OpenAI's shape (the router matches case-insensitively). */
const OPENAI_PATH = /^\/+v1(\/|$)/i;

/** Whether an error on this path is answered in OpenAI's shape. */
export function isOpenAiPath(path: string): boolean {
  return OPENAI_PATH.test(path);
}

/** OpenAI's error `type` for an HTTP status; the SDKs pick their error class from the status. */
function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * An error in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, which the
 * OpenAI SDKs parse; `code` is the registry's code, so both APIs name a failure alike.
 */
export function openAiErrorBody(code: ErrorCode, message: string, param?: string): { error: { message: string; type: string; param: string | null; code: ErrorCode } } {
  return { error: { message, type: openAiType(ERROR_CODES[code].status), param: param ?? null, code } };
}
