import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createApp } from '../../worker/app.js';
import { createFeatures, type Features } from '../../worker/features.js';

/**
 * The worker's real app (createApp + createFeatures) on 127.0.0.1 port 0 with a temp
 * state dir: what the agent and session tests drive over HTTP.
 */

export const TOKEN = 'agent-test-token-0123456789';

export interface AgentApp {
  url: string;
  home: string;
  config: Config;
  features: Features;
  /** JSON request with the bearer token. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  /** POST /api/agent with Accept: text/event-stream. */
  stream(body: unknown): SseClient;
  close(): Promise<void>;
}

export interface SseEvent {
  event: string;
  data: any;
}

export interface SseClient {
  /** Resolves with the response status once the headers arrive. */
  opened: Promise<number>;
  events: SseEvent[];
  /** Resolves when the stream ends, with all events; rejects if the connection breaks. */
  finished: Promise<SseEvent[]>;
  /** Resolves with the first event (past or future) matching `match`. */
  waitFor(match: (event: SseEvent) => boolean): Promise<SseEvent>;
}

export async function startAgentApp(overrides: Record<string, unknown> = {}): Promise<AgentApp> {
  const home = mkdtempSync(join(tmpdir(), 'xopc-agent-test-'));
  const config = configSchema.parse({ gateway: { auth: { token: TOKEN } }, ...overrides });
  const logger = createLogger('worker', 'silent', { write() {} });
  const features = await createFeatures({ config, logger, stateDir: home });
  const app = createApp({ config, logger, logFile: join(home, 'gateway.log'), routers: features.routers, storage: features.services.storage, authLimits: { maxFailures: 1000 } });
  const server = http.createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  return {
    url,
    home,
    config,
    features,
    async call(method, path, body) {
      const response = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
      const text = await response.text();
      return { status: response.status, json: text ? JSON.parse(text) : null };
    },
    stream(body) {
      return openAgentStream(url, TOKEN, body);
    },
    async close() {
      await features.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** POST `{origin}/api/agent` asking for server-sent events; parses them as they arrive. */
export function openAgentStream(origin: string, token: string, body: unknown): SseClient {
  const url = `${origin}/api/agent`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' };
  const events: SseEvent[] = [];
  const emitter = new EventEmitter();
  let markOpened!: (status: number) => void;
  const opened = new Promise<number>((resolve) => (markOpened = resolve));

  const finished = (async () => {
    const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    markOpened(response.status);
    if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
      const event = { event: 'http', data: { status: response.status, body: await response.json() } };
      events.push(event);
      emitter.emit('event', event);
      return events;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(block.split('\n').filter((line) => !line.startsWith(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
        if (!fields.event) continue;
        const event = { event: fields.event, data: JSON.parse(fields.data ?? 'null') };
        events.push(event);
        emitter.emit('event', event);
      }
    }
    return events;
  })();

  return {
    opened,
    events,
    finished,
    waitFor(match) {
      const found = events.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const onEvent = (event: SseEvent) => {
          if (!match(event)) return;
          emitter.off('event', onEvent);
          resolve(event);
        };
        emitter.on('event', onEvent);
        finished.then(() => reject(new Error(`stream ended without the awaited event: ${JSON.stringify(events)}`)), reject);
      });
    },
  };
}
