import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAgentApp, TOKEN, type AgentApp } from './helpers/agent-app.js';

describe('a wrong method on a known path', () => {
  let app: AgentApp;
  before(async () => {
    app = await startAgentApp();
  });
  after(() => app?.close());

  const request = async (method: string, path: string) => {
    const res = await fetch(`${app.url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    return { status: res.status, allow: res.headers.get('allow'), json: text ? JSON.parse(text) : null };
  };
  const methods = (allow: string | null) => (allow ?? '').split(/,\s*/).filter(Boolean).sort();

  for (const [method, path, allowed] of [
    ['GET', '/api/agent', ['POST']],
    ['PUT', '/api/sessions/main:api:x', ['DELETE', 'GET', 'HEAD']],
    ['PATCH', '/api/sessions', ['GET', 'HEAD', 'POST']],
    ['GET', '/api/message/sync', ['POST']],
    ['DELETE', '/api/cron', ['GET', 'HEAD']],
    ['POST', '/api/logs', ['GET', 'HEAD']],
    ['POST', '/health', ['GET', 'HEAD']],
  ] as const) {
    test(`${method} ${path} is 405 METHOD_NOT_ALLOWED with Allow: ${allowed.join(', ')}`, async () => {
      const res = await request(method, path);
      assert.equal(res.status, 405, JSON.stringify(res.json));
      assert.deepEqual(methods(res.allow), [...allowed].sort());
      assert.equal(res.json.error.code, 'METHOD_NOT_ALLOWED');
      assert.ok(res.json.error.message.includes(method), res.json.error.message);
    });
  }

  test('an unknown path is still 404 NOT_FOUND, and the token is still checked first', async () => {
    const missing = await request('GET', '/api/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'NOT_FOUND');
    assert.equal(missing.allow, null);
    const anonymous = await fetch(`${app.url}/api/agent`, { method: 'GET' });
    assert.equal(anonymous.status, 401);
  });
});
