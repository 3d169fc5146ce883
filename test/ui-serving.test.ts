import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { removeHome, startGateway, type Gateway } from './helpers/gateway.js';

// The built page the gateway serves (dist/ui, next to dist/test).
const UI_DIR = new URL('../ui/', import.meta.url);
const TOKEN = 'ui-serving-token-0123456789abcdef';

let gateway: Gateway;
before(async () => {
  gateway = await startGateway({ config: { gateway: { auth: { token: TOKEN } } } });
});
after(async () => {
  await gateway.stop();
  removeHome(gateway.home);
});

function assetNames(): string[] {
  return readdirSync(new URL('assets/', UI_DIR)).filter((name) => !/\.(br|gz)$/.test(name));
}

test('GET / serves the page with a strict CSP, nosniff, no-referrer and revalidation; never the token', async () => {
  const res = await fetch(gateway.url('/'), { headers: { 'accept-encoding': 'identity' } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/html/);
  const csp = res.headers.get('content-security-policy')!;
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const body = await res.text();
  assert.match(body, /<xopc-app>/);
  assert.doesNotMatch(body, /<script>|<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
  assert.ok(!body.includes(TOKEN));
});

test('hashed assets are immutable and come precompressed (br, gzip) or plain, with the same content', async () => {
  const scripts = assetNames().filter((name) => name.endsWith('.js'));
  for (const name of scripts) assert.match(name, /^[a-z-]+-[A-Z0-9]{8,}\.js$/, `content-hashed name: ${name}`);
  const script = scripts.find((name) => name.startsWith('main-'))!;
  const plain = readFileSync(new URL(`assets/${script}`, UI_DIR));
  for (const [encoding, decode] of [['br', brotliDecompressSync], ['gzip', gunzipSync], ['identity', (b: Buffer) => b]] as const) {
    const res = await fetch(gateway.url(`/assets/${script}`), { headers: { 'accept-encoding': encoding } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(res.headers.get('content-encoding'), encoding === 'identity' ? null : encoding);
    assert.match(res.headers.get('content-type')!, /javascript/);
    assert.match(res.headers.get('vary') ?? '', /Accept-Encoding/i);
    // fetch decodes what it recognises; read the raw bytes with a plain request instead.
    const raw = await rawBody(`/assets/${script}`, encoding);
    assert.deepEqual(decode(raw), plain, `${encoding} body decodes to the built file`);
    assert.ok(!(await res.text()).includes(TOKEN));
  }
});

test('an unchanged page revalidates with 304', async () => {
  const first = await fetch(gateway.url('/'));
  const lastModified = first.headers.get('last-modified')!;
  await first.arrayBuffer();
  // Not fetch(): with a conditional header it adds `Cache-Control: no-cache`, which asks for the full page.
  const again = await plainGet('/', { 'if-modified-since': lastModified });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(String(again.headers['content-security-policy']).includes("frame-ancestors 'none'"), true);
});

test("the HTML keeps other sites' windows away (Cross-Origin-Opener-Policy) unless the person or the page itself navigated to it", async () => {
  const coop = async (path: string, site: string | null, extra: Record<string, string> = {}) => {
    const res = await plainGet(path, { ...(site ? { 'sec-fetch-site': site } : {}), ...extra });
    return { status: res.status, coop: res.headers['cross-origin-opener-policy'] ?? null, vary: String(res.headers.vary) };
  };
  // Typed, bookmarked, opened by `xopc gateway dashboard`; or the page reloading itself.
  for (const site of ['none', 'same-origin']) assert.deepEqual(await coop('/', site), { status: 200, coop: null, vary: 'Accept-Encoding, Sec-Fetch-Site' }, site);
  // Opened or linked by another site (another port of this host is `same-site`), or a browser without Fetch Metadata.
  for (const site of ['same-site', 'cross-site', null]) assert.equal((await coop('/', site)).coop, 'same-origin', String(site));
  assert.equal((await coop('/index.html', 'cross-site')).coop, 'same-origin');
  // A revalidation carries it too: the browser merges the 304's headers into its cached copy.
  const lastModified = (await plainGet('/', {})).headers['last-modified']!;
  assert.deepEqual(await coop('/', 'cross-site', { 'if-modified-since': lastModified }), { status: 304, coop: 'same-origin', vary: 'Accept-Encoding, Sec-Fetch-Site' });
  // Scripts and styles are not documents: the policy means nothing on them.
  const script = assetNames().find((name) => name.startsWith('main-'))!;
  assert.deepEqual(await coop(`/assets/${script}`, 'cross-site'), { status: 200, coop: null, vary: 'Accept-Encoding' });
});

test('the API keeps its JSON answers: unknown /api paths and unknown files are NOT_FOUND, no file escapes the folder', async () => {
  for (const path of ['/api/nope', '/API/nope', '/nope.js', '/assets/nope-ABCDEFGH.js', '/chat', '/assets/sub/dir.js']) {
    const res = await fetch(gateway.url(path), { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as any).error.code, 'NOT_FOUND', path);
  }
  for (const path of ['/..%2f..%2fpackage.json', '/assets/..%2f..%2f..%2fpackage.json', '/%2e%2e/%2e%2e/package.json']) {
    const res = await fetch(gateway.url(path));
    assert.notEqual(res.status, 200, path);
    assert.ok(!(await res.text()).includes('"name": "xopc"'), path);
  }
  const health = await fetch(gateway.url('/health'));
  assert.equal(health.status, 200);
  assert.equal(health.headers.get('content-security-policy'), null, '/health is not a page');
  assert.equal(((await health.json()) as any).status, 'healthy');
});

test('GET /api/status: version, uptime, pids, port, channels, agents with their provider and whether it is configured', async () => {
  const unauthorized = await fetch(gateway.url('/api/status'));
  assert.equal(unauthorized.status, 401);
  const res = await fetch(gateway.url('/api/status'), { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  const status = (await res.json()) as any;
  const lock = gateway.lock()!;
  assert.equal(status.status, 'ok');
  assert.equal(status.version, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  assert.equal(status.pid, lock.pid);
  assert.equal(status.workerPid, lock.workerPid);
  assert.equal(status.port, gateway.port);
  assert.ok(Number.isInteger(status.uptime) && status.uptime >= 0);
  assert.deepEqual(status.channels, ['webchat']);
  assert.equal(status.agents.length, 1);
  const [main] = status.agents;
  assert.equal(main.id, 'main');
  assert.equal(main.provider, 'openai');
  assert.equal(main.default, true);
  // The test environment has no OPENAI_API_KEY: the status says what to set.
  assert.equal(main.configured, false);
  assert.match(main.problem, /OPENAI_API_KEY/);
  assert.ok(!JSON.stringify(status).includes(TOKEN));
});

/** The undecoded body of a GET with this Accept-Encoding. */
async function rawBody(path: string, encoding: string): Promise<Buffer> {
  return (await plainGet(path, { 'accept-encoding': encoding })).body;
}

/** A GET with exactly these headers (node:http adds no caching headers of its own). */
function plainGet(path: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: gateway.port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('the page folder holds only the built page (no source maps or sources)', () => {
  const names = assetNames();
  assert.ok(names.some((name) => /^styles-[A-Z0-9]{8,}\.css$/.test(name)));
  assert.deepEqual(names.filter((name) => /\.(map|ts)$/.test(name)), []);
  assert.ok(readFileSync(join(new URL('.', UI_DIR).pathname, 'index.html'), 'utf8').includes('/assets/main-'));
});

test('GET /api/logs/stream: the newest matching lines, then new ones as they are written; bad parameters are INVALID_REQUEST', async () => {
  const bad = await fetch(gateway.url('/api/logs/stream?level=loud'), { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as any).error.message, /^level must be one of trace, debug, info/);
  assert.equal((await fetch(gateway.url('/api/logs/stream'))).status, 401);

  const abort = new AbortController();
  const res = await fetch(gateway.url('/api/logs/stream?lines=5&q=marker-'), { headers: { authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
  const marker = `/marker-${Date.now()}`;
  await fetch(gateway.url(marker));
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 10_000;
  while (!text.includes(marker) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  abort.abort();
  const events = text.split('\n\n').filter((block) => block.startsWith('event: entry'));
  assert.ok(events.length >= 1, text);
  const entry = JSON.parse(events.at(-1)!.split('\ndata: ')[1]!);
  assert.equal(entry.path, marker, 'the request line, as a parsed entry');
  assert.ok(events.every((block) => block.includes('marker-')), 'only lines matching q');
});

test('`xopc gateway dashboard --no-open` prints the URL with the token in its fragment; not running is exit 3', async () => {
  const { runCli } = await import('./helpers/gateway.js');
  const shown = await runCli(gateway.home, ['gateway', 'dashboard', '--no-open']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(shown.stdout.includes(`http://127.0.0.1:${gateway.port}/#token=${TOKEN}`), shown.stdout);
  const { tempHome } = await import('./helpers/gateway.js');
  const empty = tempHome();
  try {
    const stopped = await runCli(empty, ['gateway', 'dashboard', '--no-open']);
    assert.equal(stopped.code, 3);
    assert.match(stopped.stderr, /not running/);
  } finally {
    removeHome(empty);
  }
});
