/**
 * The one module that talks to the gateway's public API: the bearer token on every
 * call, errors in the documented `{error: {code, message}}` shape, and server-sent
 * events read with fetch (EventSource cannot send an Authorization header).
 */

/** An error the API answered, or a network failure (`code: "NETWORK"`). */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status = 0, readonly retryAfter: number | null = null) {
    super(message);
  }
}

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
}

export interface ApiClientOptions {
  token: string;
  /** The token was refused (401): back to sign-in with this reason. */
  onAuthFailure(reason: string): void;
  /** A request could not reach the gateway (it is down or restarting). */
  onNetworkError(): void;
  /** A request reached it again. */
  onReachable(): void;
}

export interface ApiClient {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T>;
  del<T>(path: string): Promise<T>;
  /** Opens an event stream (GET, or POST with a JSON body) and yields `open`, then its events until it ends. */
  stream(path: string, options: { body?: unknown; signal?: AbortSignal }): AsyncGenerator<SseEvent>;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  async function send(method: string, path: string, body: unknown, accept: string, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
    } catch (err) {
      if (signal?.aborted) throw err;
      options.onNetworkError();
      throw new ApiError('NETWORK', 'The gateway cannot be reached');
    }
    options.onReachable();
    if (response.ok) return response;
    const error = await readError(response);
    // A lockout (429) is not the token's fault: the caller shows it where it happened.
    if (error.code === 'UNAUTHORIZED') options.onAuthFailure(`The gateway refused the token: ${error.message}`);
    throw error;
  }

  async function json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await send(method, path, body, 'application/json', signal);
    return (await response.json()) as T;
  }

  return {
    get: (path, signal) => json('GET', path, undefined, signal),
    post: (path, body, signal) => json('POST', path, body, signal),
    del: (path) => json('DELETE', path),
    async *stream(path, { body, signal }) {
      const response = await send(body === undefined ? 'GET' : 'POST', path, body, 'text/event-stream', signal);
      if (!response.body) return;
      // The stream is open (its first real event may be a long way off).
      yield { event: 'open', data: '' };
      yield* readEvents(response.body);
    },
  };
}

/** Parses a `text/event-stream` body into events (comments and keep-alives are skipped). */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const text = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = text;
          else if (field === 'data') data.push(text);
        }
        if (data.length > 0) yield { event, data: data.join('\n') };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

async function readError(response: Response): Promise<ApiError> {
  const retryAfter = Number(response.headers.get('retry-after')) || null;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return new ApiError(body.error.code, body.error.message ?? body.error.code, response.status, retryAfter);
  } catch {
    /* not the documented shape: described below */
  }
  return new ApiError('HTTP_' + response.status, `The gateway answered HTTP ${response.status}`, response.status, retryAfter);
}

/** The gateway answers /health (used while reconnecting). */
export async function healthy(): Promise<boolean> {
  try {
    return (await fetch('/health', { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}
