/**
 * The reference for benchmark 1: a bare Koa app with the same routes as the gateway
 * (`GET /health`, and `POST /api/message` behind a bearer token with a JSON body), and
 * nothing else: no request log, no error registry, no rate limit, no supervisor.
 * Run as a child process: `node dist/bench/lib/bare-koa.js <token>`; it sends its port
 * over IPC (or prints it when started without IPC).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const token = process.argv[2] ?? 'bench-token-0123456789abcdef';
const port = Number(process.argv[3] ?? 0);
const startedAt = Date.now();
const app = new Koa();
const router = new Router();

router.get('/health', (ctx) => {
  ctx.body = { status: 'healthy', uptime: Math.floor((Date.now() - startedAt) / 1000) };
});
router.post('/api/message', (ctx) => {
  if (ctx.get('authorization') !== `Bearer ${token}`) {
    ctx.status = 401;
    ctx.body = { error: { code: 'UNAUTHORIZED', message: 'Missing or invalid token' } };
    return;
  }
  const body = ctx.request.body as { channel?: unknown; chat_id?: unknown; content?: unknown } | undefined;
  if (typeof body?.channel !== 'string' || (typeof body.chat_id !== 'string' && typeof body.chat_id !== 'number') || typeof body.content !== 'string') {
    ctx.status = 400;
    ctx.body = { error: { code: 'INVALID_REQUEST', message: 'channel, chat_id and content are required' } };
    return;
  }
  ctx.body = { status: 'ok', message_id: randomUUID() };
});

app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '1mb' }));
app.use(router.routes());
const server = app.listen(port, '127.0.0.1', () => {
  const address = server.address() as AddressInfo;
  if (process.send) process.send({ port: address.port });
  else console.log(`listening on ${address.port}`);
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
