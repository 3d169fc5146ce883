import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { removeHome, startGateway, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

// The document is checked by a maintained OpenAPI validator, held to the README's endpoint
// table, and every operation in it is called on a real gateway (a request that must succeed
// and one that must fail), each answer checked against the document with ajv. A route
// declared in the code is in the document, so it is tested here without a line of its own.

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const WEBHOOK_SECRET = `whsec_${Buffer.from('contract-webhook-secret').toString('base64')}`;
const webhookSender = new Webhook(WEBHOOK_SECRET);
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  method: string;
  path: string;
  spec: any;
}

function operationsOf(doc: any): Operation[] {
  const list: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) if (item[method]) list.push({ method: method.toUpperCase(), path, spec: item[method] });
  }
  return list;
}

/** The rows of the README table whose header is `| method | path | body / query | success |`. */
const PAGE_FILES_ROW = 'GET / , /assets/*';

/**
 * An event stream's text up to its end, or up to its first complete `data:` event for a
 * stream that never ends by itself (the live log), then the stream is cancelled.
 */
async function firstEvents(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
    if (/^data: .*\n\n/m.test(text)) break;
  }
  await reader.cancel();
  return text;
}

function endpointTable(markdown: string): string[] {
  const lines = markdown.split(/\r?\n/);
  const header = lines.findIndex((line) => /^\|\s*method\s*\|\s*path\s*\|/.test(line.trim()));
  assert.notEqual(header, -1, 'README.md has no "| method | path | ... |" table');
  const rows: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.trim().startsWith('|')) break;
    const [method, path] = line.trim().replace(/^\|/, '').split('|').map((cell) => cell.trim().replace(/`/g, ''));
    // The control page's files are listed for the reader but are no API operation.
    if (`${method} ${path}` === PAGE_FILES_ROW) continue;
    rows.push(`${method} ${path}`);
  }
  return rows;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

describe('the OpenAPI document of a real gateway', () => {
  let mock: MockLlm;
  let gateway: Gateway;
  let doc: any;
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));

  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 20, chunkIntervalMs: 0 }, rules: [ECHO_RULE] });
    gateway = await startGateway({
      config: {
        agents: { defaults: { model: 'mock/m', maxRetries: 0 } },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
        channels: { webhook: { enabled: true, secret: WEBHOOK_SECRET } },
        logging: { level: 'warn' },
      },
    });
    const res = await fetch(gateway.url('/openapi.json'));
    assert.equal(res.status, 200);
    doc = await res.json();
  });
  after(async () => {
    await gateway?.stop();
    if (gateway) removeHome(gateway.home);
    await mock?.stop();
  });

  test('passes @readme/openapi-parser validation as OpenAPI 3.1', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await validate(structuredClone(doc));
    assert.deepEqual(result.valid ? [] : result.errors, []);
    assert.equal(result.specification, 'OpenAPI');
  });

  test('the README endpoint table lists exactly the documented operations', () => {
    const documented = operationsOf(doc).map((op) => `${op.method} ${op.path.replace(/\{([^}]+)\}/g, ':$1')}`).sort();
    const listed = endpointTable(readFileSync(README, 'utf8'));
    assert.equal(new Set(listed).size, listed.length, 'an endpoint is listed twice in the README');
    assert.deepEqual([...listed].sort(), documented);
  });

  test('every operation has a unique operationId, a summary, an example request, and error answers from the registry', () => {
    const ids = operationsOf(doc).map((op) => op.spec.operationId);
    assert.equal(new Set(ids).size, ids.length);
    for (const op of operationsOf(doc)) {
      assert.ok(op.spec.summary, `${op.method} ${op.path}`);
      assert.ok(op.spec.responses['500'], `${op.method} ${op.path} documents INTERNAL_ERROR`);
      if (op.spec.security?.length) assert.ok(op.spec.responses['401'] && op.spec.responses['429'], `${op.method} ${op.path} documents the auth errors`);
    }
  });

  test('every operation answers a good request and a bad one as documented', async () => {
    const auth = { authorization: `Bearer ${gateway.token}` };
    // Resources the examples refer to: a session and a cron job (whose id the gateway picks).
    const session = await call('POST', '/api/sessions', { headers: auth, body: { channel: 'webchat', chat_id: 'contract' } });
    assert.equal(session.status, 200);
    const job = await call('POST', '/api/cron/create', { headers: auth, body: { schedule: '0 8 * * *', message: 'contract fixture' } });
    assert.equal(job.status, 200);
    // The examples name a job id of the documented shape; this run's job stands in for it.
    const cronExample = (doc.paths['/api/cron/{id}'].get.parameters as any[]).find((parameter) => parameter.name === 'id').example as string;
    // Likewise an accepted message: the example's message id stands for this run's.
    const message = await call('POST', '/api/message', { headers: auth, body: { channel: 'webchat', chat_id: 'contract', content: 'contract fixture' } });
    assert.equal(message.status, 202);
    const messageExample = (doc.paths['/api/message/{id}'].get.parameters as any[]).find((parameter) => parameter.name === 'id').example as string;
    const stand = (text: string) => text.split(cronExample).join(job.json.job.id).split(messageExample).join(message.json.message_id);

    // Deletes last, so that the other operations still find what the examples name.
    const operations = operationsOf(doc).sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    const checked: string[] = [];
    for (const op of operations) {
      const name = `${op.method} ${op.path}`;
      const good = requestFor(op, {}, stand);
      const answer = await call(op.method, good.path, good);
      assert.ok(String(answer.status).startsWith('2'), `${name} answered ${answer.status}: ${answer.text}`);
      check(op, answer, name);

      if (op.spec.responses['200']?.content?.['text/event-stream']) {
        // Asked for with Accept, or (OpenAI) with `stream: true` in the body.
        const asksInBody = op.spec.requestBody?.content['application/json'].schema.properties?.stream !== undefined;
        const raw = asksInBody ? JSON.stringify({ ...JSON.parse(good.raw!), stream: true }) : good.raw;
        const streamed = await call(op.method, good.path, { ...good, ...(raw === undefined ? {} : { raw }), headers: { ...good.headers, accept: 'text/event-stream' } });
        assert.match(streamed.type, /^text\/event-stream/, `${name} (streamed)`);
        check(op, streamed, `${name} (streamed)`);
      }
      for (const bad of badRequestsFor(op, good)) {
        const refused = await call(op.method, bad.path, bad);
        assert.ok(refused.status >= 400 && refused.status < 500, `${name} ${bad.what}: answered ${refused.status}`);
        check(op, refused, `${name} ${bad.what}`);
      }
      checked.push(name);
    }
    assert.equal(checked.length, operationsOf(doc).length);
  });

  interface Request {
    path: string;
    headers: Record<string, string>;
    body?: unknown;
    raw?: string;
  }

  function requestFor(op: Operation, fixtures: Record<string, string>, stand: (text: string) => string = (text) => text): Request {
    const headers: Record<string, string> = {};
    let path = op.path;
    const query = new URLSearchParams();
    for (const parameter of op.spec.parameters ?? []) {
      const value = fixtures[parameter.name] ?? parameter.example;
      if (value === undefined) continue;
      if (parameter.in === 'path') path = path.replace(`{${parameter.name}}`, encodeURIComponent(stand(String(value))));
      else if (parameter.in === 'query') query.set(parameter.name, String(value));
      else headers[parameter.name] = String(value);
    }
    assert.ok(!/\{/.test(path), `${op.method} ${op.path}: every path parameter needs an example`);
    if (query.size > 0) path += `?${query}`;
    if (op.spec.security?.length) headers.authorization = `Bearer ${gateway.token}`;
    const example = op.spec.requestBody?.content?.['application/json']?.example;
    assert.ok(!op.spec.requestBody?.required || example !== undefined, `${op.method} ${op.path}: a required body needs an example`);
    const raw = example === undefined ? undefined : stand(JSON.stringify(example));
    // Channel webhooks are authenticated by the channel's own signature over the raw body.
    if (op.spec.operationId === 'channelWebhook' && raw) {
      // Standard Webhooks: a fresh delivery id and the time now, signed over both and the body.
      const id = `msg_${randomUUID()}`;
      const timestamp = new Date();
      Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': webhookSender.sign(id, timestamp, raw) });
    }
    return { path, headers, ...(raw === undefined ? {} : { raw }) };
  }

  /** Requests the operation must refuse: without credentials, and with a body that is no JSON object. */
  function badRequestsFor(op: Operation, good: Request): Array<Request & { what: string }> {
    const bad: Array<Request & { what: string }> = [];
    if (op.spec.security?.length) {
      const { authorization: _token, ...headers } = good.headers;
      bad.push({ ...good, headers, what: 'without a token' });
    }
    if (op.spec.operationId === 'channelWebhook') bad.push({ ...good, headers: { ...good.headers, 'webhook-signature': 'v1,AAAA' }, what: 'with a bad signature' });
    if (op.spec.requestBody) bad.push({ ...good, raw: '[1]', what: 'with a body that is not an object' });
    const pathParameters = (op.spec.parameters ?? []).filter((parameter: any) => parameter.in === 'path');
    if (pathParameters.length > 0) {
      const nothing = Object.fromEntries(pathParameters.map((parameter: any) => [parameter.name, 'no-such-thing-0']));
      bad.push({ ...requestFor(op, nothing), what: 'naming nothing' });
    }
    return bad;
  }

  async function call(method: string, path: string, request: { headers?: Record<string, string>; body?: unknown; raw?: string }) {
    const raw = request.raw ?? (request.body === undefined ? undefined : JSON.stringify(request.body));
    const res = await fetch(gateway.url(path), {
      method,
      headers: { ...(raw === undefined ? {} : { 'content-type': 'application/json' }), ...request.headers },
      ...(raw === undefined ? {} : { body: raw }),
    });
    const type = res.headers.get('content-type') ?? '';
    const text = type.startsWith('text/event-stream') ? await firstEvents(res) : await res.text();
    return { status: res.status, type, text, json: type.includes('json') ? JSON.parse(text) : undefined };
  }

  /** The answer's status is documented for the operation, and its body matches the documented schema. */
  function check(op: Operation, answer: { status: number; type: string; text: string; json: any }, name: string): void {
    const response = op.spec.responses[String(answer.status)];
    assert.ok(response, `${name}: status ${answer.status} is not documented (${answer.text.slice(0, 200)})`);
    if (answer.type.startsWith('text/event-stream')) {
      const media = response.content?.['text/event-stream'];
      assert.ok(media, `${name}: an event stream is not documented`);
      const events = answer.text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).filter((data) => data !== '[DONE]');
      assert.ok(events.length > 0, `${name}: no events`);
      for (const data of events) assertValid(media['x-event-data'], JSON.parse(data), name);
      return;
    }
    const baseType = (type: string) => type.split(';')[0]!.trim().toLowerCase();
    if (baseType(answer.type) !== 'application/json' && answer.text !== '') {
      // Another format (the Prometheus text of /metrics): its media type must be the documented one.
      const documented = Object.keys(response.content ?? {}).map(baseType);
      assert.ok(documented.includes(baseType(answer.type)), `${name}: ${answer.type} is not documented for ${answer.status} (${documented.join(', ')})`);
      return;
    }
    const media = response.content?.['application/json'];
    assert.ok(media, `${name}: a JSON body is not documented for ${answer.status}`);
    assertValid(media.schema, answer.json, name);
  }

  function assertValid(schema: object, value: unknown, name: string): void {
    const valid = ajv.validate(schema, value);
    assert.ok(valid, `${name}: ${ajv.errorsText()} in ${JSON.stringify(value).slice(0, 300)}`);
  }
});
