import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import net from 'node:net';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../worker/app.js';
import { createDrainableServer } from '../worker/http-server.js';

const TOKEN = 'http-server-token-0123456789';

/** The worker's real server and app, listening on a port-0 socket handed over as an fd (as the supervisor does). */
async function start() {
  const config = configSchema.parse({ gateway: { auth: { token: TOKEN } } });
  const logger = createLogger('worker', 'silent', { write() {} });
  const http = createDrainableServer(createApp({ config, logger, logFile: '/nonexistent/gateway.log' }).callback());
  await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
  const { port } = http.server.address() as net.AddressInfo;
  return { port, close: () => http.drain(100) };
}

/** Raw bytes in, whole answer out. */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(data));
  });
}

function errorOf(answer: string): { status: number; error: { code: string; message: string } } {
  const status = Number(answer.split(' ')[1]);
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  return { status, error: JSON.parse(body).error };
}

test('requests the HTTP parser rejects get the documented JSON error', async () => {
  const gw = await start();
  try {
    const hugeHeader = await raw(gw.port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.deepEqual(errorOf(hugeHeader), { status: 400, error: { code: 'INVALID_REQUEST', message: 'Request line or headers too large' } });
    const badChunk = await raw(gw.port, `POST /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n`);
    assert.equal(errorOf(badChunk).status, 400);
    assert.equal(errorOf(badChunk).error.code, 'INVALID_REQUEST');
    const garbage = await raw(gw.port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.equal(errorOf(garbage).error.code, 'INVALID_REQUEST');
  } finally {
    await gw.close();
  }
});

test('a rejected HEAD request gets the error status and headers but no body', async () => {
  const gw = await start();
  try {
    const answers = {
      // Rejected in its headers: the method is read from the packet that starts with it.
      headers: await raw(gw.port, `HEAD /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
      // Rejected in its body: the app already has the request.
      body: await raw(gw.port, `HEAD /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n`),
      // After a request answered on the same connection, in a packet of its own.
      second: await new Promise<string>((resolve) => {
        const socket = net.connect(gw.port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
        let data = '';
        socket.on('data', (chunk) => {
          if (!data) socket.write('HEAD /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
          data += chunk;
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve(data.slice(data.indexOf('HTTP/1.1 400'))));
      }),
    };
    for (const [name, answer] of Object.entries(answers)) {
      assert.match(answer, /^HTTP\/1\.1 400 /, name);
      assert.match(answer, /\r\nContent-Type: application\/json; charset=utf-8\r\n/, name);
      assert.ok(answer.endsWith('\r\n\r\n'), `${name}: no body after the headers: ${JSON.stringify(answer.slice(-80))}`);
    }
  } finally {
    await gw.close();
  }
});

test('a body whose Content-Encoding does not decode is a 400, and a valid gzip body is read', async () => {
  const gw = await start();
  try {
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const res = await fetch(`http://127.0.0.1:${gw.port}/api/nowhere`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Content-Encoding': encoding },
        body: 'this is not compressed',
      });
      assert.equal(res.status, 400, encoding);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'INVALID_REQUEST');
    }
    const good = await fetch(`http://127.0.0.1:${gw.port}/api/nowhere`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body: gzipSync('{"ok":true}'),
    });
    assert.equal(good.status, 404, 'parsed, then no such route');
  } finally {
    await gw.close();
  }
});
