import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { configSchema } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createApp } from '../worker/app.js';
import { createDrainableServer, type ConnectionLimits } from '../worker/http-server.js';

const TOKEN = 'http-limits-token-0123456789';
const LIMITS: ConnectionLimits = { headersTimeoutMs: 1000, requestTimeoutMs: 1500, idleTimeoutMs: 1000, maxConnections: 100, maxConnectionsPerAddress: 100 };
// A slow client trickles one byte this often, for at most TRICKLE_BYTES bytes: far past
// every bound above (and Node's own defaults, 60 s headers and 300 s request, are far past it).
const TRICKLE_MS = 100;
const TRICKLE_BYTES = 100;

async function start(limits: Partial<ConnectionLimits> = {}) {
  const config = configSchema.parse({ gateway: { auth: { token: TOKEN } } });
  const lines: Array<{ msg: string }> = [];
  const logger = createLogger('worker', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  const warned: string[] = [];
  const http = createDrainableServer(createApp({ config, logger, logFile: '/nonexistent/gateway.log' }).callback(), {
    ...LIMITS,
    onCapReached: ({ address, scope }) => warned.push(`${scope} ${address}`),
    ...limits,
  });
  await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
  const { port } = http.server.address() as net.AddressInfo;
  return { port, warned, lines, close: () => http.drain(100) };
}

interface Client {
  socket: net.Socket;
  data(): string;
  closed: Promise<void>;
  isClosed(): boolean;
}

/** A raw connection, optionally from another loopback address (Linux routes all of 127/8 to lo). */
async function connect(port: number, localAddress?: string): Promise<Client> {
  const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
  let data = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const closedPromise = new Promise<void>((resolve) => socket.on('close', () => {
    closed = true;
    resolve();
  }));
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  return { socket, data: () => data, closed: closedPromise, isClosed: () => closed };
}

/** Writes `head`, then one byte of `filler` every TRICKLE_MS until the server closes the socket or the bytes run out. */
async function trickle(client: Client, head: string, filler = 'a'): Promise<{ cutBeforeEnd: boolean }> {
  client.socket.write(head);
  for (let i = 0; i < TRICKLE_BYTES; i++) {
    await sleep(TRICKLE_MS);
    if (client.isClosed()) return { cutBeforeEnd: true };
    client.socket.write(filler);
  }
  client.socket.destroy();
  return { cutBeforeEnd: false };
}

const responses = (data: string) => data.match(/HTTP\/1\.1 \d{3}/g) ?? [];

test('a client trickling its headers is cut within the headers bound, with the JSON error', { timeout: 30_000 }, async () => {
  const gw = await start();
  try {
    const client = await connect(gw.port);
    const { cutBeforeEnd } = await trickle(client, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.ok(cutBeforeEnd, 'the server closed the connection while headers were still coming');
    assert.deepEqual(responses(client.data()), ['HTTP/1.1 400']);
    assert.match(client.data(), /"code":"INVALID_REQUEST","message":"Request not received in time"/);
  } finally {
    await gw.close();
  }
});

test('a client trickling its body is cut within the request bound', { timeout: 30_000 }, async () => {
  const gw = await start();
  try {
    const client = await connect(gw.port);
    const head = `POST /api/nowhere HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"`;
    const { cutBeforeEnd } = await trickle(client, head);
    assert.ok(cutBeforeEnd, 'the server closed the connection while the body was still coming');
    assert.deepEqual(responses(client.data()), ['HTTP/1.1 400']);
  } finally {
    await gw.close();
  }
});

test('a socket that never sends anything, and an idle keep-alive one, are closed', { timeout: 30_000 }, async () => {
  const gw = await start();
  try {
    const silent = await connect(gw.port);
    const idle = await connect(gw.port);
    idle.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    // Bounded: the test's own timeout is the limit; each closes after its bound (1 s).
    await Promise.all([silent.closed, idle.closed]);
    assert.deepEqual(responses(idle.data()), ['HTTP/1.1 200']);
    assert.match(idle.data(), /Keep-Alive: timeout=1\r\n/);
  } finally {
    await gw.close();
  }
});

test('a request answered 401 before its body arrived gets exactly one answer, whatever its body does next', { timeout: 30_000 }, async () => {
  const gw = await start();
  try {
    const head = 'POST /api/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\nContent-Type: application/json\r\n';
    // A malformed chunked body after the 401: the parser fails on it.
    const badChunk = await connect(gw.port);
    badChunk.socket.write(`${head}Transfer-Encoding: chunked\r\n\r\n`);
    while (!badChunk.isClosed() && !badChunk.data().includes('\r\n\r\n')) await sleep(10);
    badChunk.socket.write('ZZZ\r\n{}\r\n0\r\n\r\n');
    await badChunk.closed;
    assert.deepEqual(responses(badChunk.data()), ['HTTP/1.1 401']);

    // A body that trickles after the 401: cut by the request bound, with no second answer.
    const slow = await connect(gw.port);
    const { cutBeforeEnd } = await trickle(slow, `${head}Content-Length: 1000\r\n\r\n"`);
    assert.ok(cutBeforeEnd);
    assert.deepEqual(responses(slow.data()), ['HTTP/1.1 401']);
  } finally {
    await gw.close();
  }
});

/** Opens a connection and completes one request on it, so the server has surely counted it. */
async function served(port: number, localAddress?: string): Promise<Client> {
  const client = await connect(port, localAddress);
  client.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
  while (!client.isClosed() && !client.data().includes('"status":"healthy"')) await sleep(5);
  return client;
}

test('connections beyond the per-address cap are refused; other addresses and freed slots still work', { timeout: 30_000, skip: process.platform !== 'linux' && 'needs 127.0.0.2' }, async () => {
  const gw = await start({ idleTimeoutMs: 60_000, maxConnectionsPerAddress: 3, maxConnections: 5 });
  try {
    const first = await Promise.all([served(gw.port), served(gw.port), served(gw.port)]);
    assert.ok(first.every((client) => !client.isClosed()));

    const extra = await served(gw.port);
    assert.ok(extra.isClosed(), 'the fourth connection from 127.0.0.1 was closed');
    assert.equal(extra.data(), '', 'without an answer');
    assert.deepEqual(gw.warned, ['address 127.0.0.1']);

    const other = await served(gw.port, '127.0.0.2');
    assert.ok(!other.isClosed() && other.data().includes('200 OK'), 'another address is served');
    const again = await served(gw.port, '127.0.0.2');
    assert.ok(!again.isClosed(), 'five in all');
    const overTotal = await served(gw.port, '127.0.0.3');
    assert.ok(overTotal.isClosed(), 'the sixth connection in all was closed');
    assert.deepEqual(gw.warned, ['address 127.0.0.1', 'total 127.0.0.3']);

    first[0]!.socket.destroy();
    await first[0]!.closed;
    // The server sees the close a moment after the client does: a bounded number of tries.
    let freed = await served(gw.port);
    for (let tries = 0; freed.isClosed() && tries < 50; tries++) {
      await sleep(20);
      freed = await served(gw.port);
    }
    assert.ok(!freed.isClosed() && freed.data().includes('200 OK'), 'a freed slot can be used again');
    for (const client of [...first, other, again, freed]) client.socket.destroy();
  } finally {
    await gw.close();
  }
});

test('a trusted proxy is not held to the per-address cap', { timeout: 30_000, skip: process.platform !== 'linux' && 'needs 127.0.0.2' }, async () => {
  const gw = await start({ idleTimeoutMs: 60_000, maxConnectionsPerAddress: 2, exempt: (address) => address === '127.0.0.1' });
  try {
    const clients = await Promise.all([1, 2, 3, 4].map(() => served(gw.port)));
    assert.ok(clients.every((client) => !client.isClosed()));
    const others = await Promise.all([1, 2, 3].map(() => served(gw.port, '127.0.0.2')));
    assert.deepEqual(others.map((client) => client.isClosed()), [false, false, true]);
    for (const client of [...clients, ...others]) client.socket.destroy();
  } finally {
    await gw.close();
  }
});
