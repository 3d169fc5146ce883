import { apiError, type ApiError } from '../http/errors.js';
import type { ResolvedModel } from './providers.js';

const MAX_ERROR_DETAIL_CHARS = 500;
// Shorter "keys" are placeholders for keyless local servers, not secrets.
const MIN_REDACTED_KEY_CHARS = 16;

/**
 * A failed model call as the client sees it: which provider, which URL was called, what
 * it answered, and the fix where the answer makes it plain. The SDKs' own messages
 * ("404 \"Not Found\"", "Connection error.") name neither the server nor the setting.
 */
export function providerError(resolved: ResolvedModel, detail: string): ApiError {
  // Never echo a key back, whatever the provider put in its message.
  const redacted = resolved.apiKey.length >= MIN_REDACTED_KEY_CHARS ? detail.split(resolved.apiKey).join('[redacted]') : detail;
  let clean = redacted.replace(/\s+/g, ' ').trim();
  if (clean.length > MAX_ERROR_DETAIL_CHARS) clean = `${clean.slice(0, MAX_ERROR_DETAIL_CHARS)}...`;
  const hint = hintFor(resolved, clean);
  return apiError('AGENT_ERROR', `Model provider '${resolved.provider}' failed (model ${resolved.ref}, POST ${resolved.endpoint}): ${clean}${hint ? `. ${hint}` : ''}`);
}

/** A model call that took longer than `agents.defaults.timeoutMs`. */
export function timeoutError(resolved: ResolvedModel, timeoutMs: number): ApiError {
  return apiError('AGENT_ERROR', `Model provider '${resolved.provider}' did not answer within ${timeoutMs} ms (model ${resolved.ref}, POST ${resolved.endpoint}); raise agents.defaults.timeoutMs or check the provider`);
}

function hintFor(resolved: ResolvedModel, detail: string): string | null {
  const settings = `providers.${resolved.provider}`;
  const status = /^(\d{3})\b/.exec(detail)?.[1];
  if (status === '404') {
    if (resolved.model.api === 'openai-responses') {
      return `This server has no OpenAI Responses API (/responses); for an OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp, LiteLLM) set ${settings}.api to "openai-completions"`;
    }
    return `Check ${settings}.baseUrl (OpenAI-compatible servers usually serve under /v1) and that the server has the model "${resolved.model.id}"`;
  }
  if (status === '401' || status === '403') {
    return `Check the key: ${resolved.keySource}`;
  }
  if (status === '405' || (status === '400' && /not supported|unknown (url|endpoint)/i.test(detail))) {
    return `Check ${settings}.api (the server may speak another protocol than ${resolved.model.api})`;
  }
  if (/connection error|fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|socket hang up/i.test(detail)) {
    return `Could not connect to ${resolved.model.baseUrl}: is the server running, and is ${resolved.baseUrlSetting} right?`;
  }
  return null;
}
