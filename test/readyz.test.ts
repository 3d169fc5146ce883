import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../worker/app.js';
import { createLifecycleChecks, createReadiness } from '../worker/readiness.js';
import { startGateway, waitUntil } from './helpers/gateway.js';

interface Ready {
  status: number;
  body: { status: string; checks: Record<string, string> };
  connection: string | undefined;
}

/** GET /readyz, on `agent`'s connection when given. */
function readyz(port: number, agent?: http.Agent): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', agent: agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), connection: res.headers.connection }));
    });
    req.on('error', reject);
  });
}

test('/readyz is 503 naming each check that fails, 200 once all pass', async (t) => {
  const config = configSchema.parse({ gateway: { auth: { token: 'readyz-token-0123456789abcdef' } } });
  const readiness = createReadiness();
  const lifecycle = createLifecycleChecks(readiness);
  // A feature's own check, the way a feature registers one.
  let storageProblem: string | null = null;
  readiness.register('storage', () => storageProblem);
  const app = createApp({ config, logger: createLogger('worker', 'silent', { write() {} }), logFile: '/nonexistent/gateway.log', readiness });
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;

  let answer = await readyz(port);
  assert.equal(answer.status, 503);
  assert.equal(answer.body.status, 'not_ready');
  assert.equal(answer.body.checks.started, 'the worker is starting');
  assert.match(answer.body.checks.background!, /not started yet/);
  assert.equal(answer.body.checks.storage, 'ok');

  lifecycle.serving();
  lifecycle.background('starting');
  answer = await readyz(port);
  assert.equal(answer.status, 503);
  assert.deepEqual(Object.keys(answer.body.checks).filter((name) => answer.body.checks[name] !== 'ok'), ['background']);

  lifecycle.background('running');
  answer = await readyz(port);
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { status: 'ready', checks: { started: 'ok', draining: 'ok', background: 'ok', storage: 'ok' } });

  storageProblem = 'the state dir cannot be written';
  answer = await readyz(port);
  assert.equal(answer.status, 503);
  assert.equal(answer.body.checks.storage, 'the state dir cannot be written');

  storageProblem = null;
  lifecycle.background('failed');
  answer = await readyz(port);
  assert.equal(answer.status, 503);
  assert.match(answer.body.checks.background!, /failed to start/);

  lifecycle.background('running');
  lifecycle.draining();
  answer = await readyz(port);
  assert.equal(answer.status, 503);
  assert.match(answer.body.checks.draining!, /draining/);
  assert.throws(() => readiness.register('storage', () => null), /registered twice/);
});

test('a real gateway is ready once serving; its old worker answers 503 draining during a restart', async (t) => {
  const gateway = await startGateway({ env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' } });
  t.after(() => gateway.stop());
  // Background services start right after the worker reports ready.
  const ready = await waitUntil(async () => {
    const answer = await readyz(gateway.port);
    return answer.status === 200 ? answer : null;
  }, 10_000, '/readyz 200');
  assert.deepEqual(ready.body.checks, { started: 'ok', draining: 'ok', background: 'ok', storage: 'ok' });

  // One keep-alive connection to the first worker: during a restart it stays open until
  // its keep-alive timeout while the worker drains.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal((await readyz(gateway.port, agent)).status, 200);
  const first = gateway.lock()!;
  process.kill(first.pid, 'SIGUSR1');
  const draining = await waitUntil(async () => {
    const answer = await readyz(gateway.port, agent);
    return answer.status === 503 ? answer : null;
  }, 10_000, 'the old worker to answer 503');
  assert.match(draining.body.checks.draining!, /draining/);
  assert.equal(draining.connection, 'close');
  await gateway.waitForServing({ exceptWorkerPid: first.workerPid! });
  const after = await waitUntil(async () => {
    const answer = await readyz(gateway.port);
    return answer.status === 200 ? answer : null;
  }, 10_000, 'the new worker to be ready');
  assert.equal(after.body.status, 'ready');
});
