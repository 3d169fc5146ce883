import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page, Response } from 'playwright-core';
import { inPage, launchChromium, needsChromium, newPage, pageErrors, seriousA11yViolations } from './helpers/browser.js';
import { removeHome, startGateway, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

const TOKEN = 'ui-chat-token-0123456789abcdefgh';
// Small chunks, spaced out: a reply arrives in many deltas, as from a real model.
const STREAMING = { chunkSize: 6, chunkIntervalMs: 20 };
const WAIT_MS = 15_000;

/**
 * The control page's sign-in and chat, in real Chromium against a real gateway whose
 * model is mock-llm echoing each message back (so a message that carries a payload
 * comes back as a reply that carries it).
 */
describe('control page: sign-in and chat', { skip: needsChromium() }, () => {
  let browser: Browser;
  let mock: MockLlm;
  let gateway: Gateway;

  before(async () => {
    [browser, mock] = await Promise.all([launchChromium(), startMockLlm({ streaming: STREAMING, rules: [ECHO_RULE] })]);
    gateway = await startGateway({
      config: {
        // Loopback counts toward the lockout here, so that the lockout view can be shown from this machine.
        gateway: { auth: { token: TOKEN, lockoutLoopback: true } },
        agents: { defaults: { model: 'mock/echo', maxRetries: 0, timeoutMs: 10_000 }, list: [{ id: 'main' }, { id: 'broken', model: 'nowhere/none' }] },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      },
    });
  });
  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await mock?.stop();
    if (gateway) removeHome(gateway.home);
  });

  async function signedIn(): Promise<Page> {
    const page = await newPage(browser);
    await page.goto(gateway.url(`/#token=${TOKEN}`));
    await page.locator('#chat-input').waitFor({ timeout: WAIT_MS });
    return page;
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.locator('#chat-input').fill(text);
    await page.locator('#chat-input').press('Enter');
  }

  /** Waits until the conversation's last assistant message reads `text`. */
  async function replyIs(page: Page, text: string): Promise<void> {
    await page.locator('.messages .message.assistant').last().filter({ hasText: text }).waitFor({ timeout: WAIT_MS });
    await page.locator('#chat-input + button[type=submit]').waitFor({ timeout: WAIT_MS });
  }

  test('sign-in through the #token= URL: the fragment leaves the address bar, the token reaches no log', async () => {
    const page = await signedIn();
    assert.equal(new URL(page.url()).hash, '', 'fragment removed');
    assert.ok(!page.url().includes(TOKEN));
    assert.equal(await inPage(page, "localStorage.getItem('xopc.token')"), TOKEN, 'kept for the next visit');
    assert.deepEqual(await seriousA11yViolations(page), [], 'chat view');
    // Every request the page made carried the token in its header only.
    await send(page, 'log check');
    await replyIs(page, 'log check');
    const log = readFileSync(join(gateway.home, 'logs', 'gateway.log'), 'utf8');
    assert.match(log, /"path":"\/api\/agent"/, 'the page\'s requests are logged');
    assert.ok(!log.includes(TOKEN), 'no token in the log file');
    assert.ok(!gateway.output().includes(TOKEN), 'no token on the terminal');
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('a wrong token is refused with its reason; the right one then signs in', async () => {
    const page = await newPage(browser);
    await page.goto(gateway.url('/#token=not-the-right-token-123'));
    const reason = page.locator('#sign-in-reason');
    await reason.waitFor({ timeout: WAIT_MS });
    assert.equal(await reason.textContent(), 'The gateway refused the token: Invalid token');
    assert.equal(new URL(page.url()).hash, '');
    assert.equal(await inPage(page, "localStorage.getItem('xopc.token')"), null, 'a refused token is not kept');
    assert.deepEqual(await seriousA11yViolations(page), [], 'sign-in view');
    await page.locator('#token').fill(TOKEN);
    await page.locator('#token').press('Enter');
    await page.locator('#chat-input').waitFor({ timeout: WAIT_MS });
    await page.context().close();
  });

  test('a message streams its reply in; Shift+Enter is a new line; after a reload the conversation is there', async () => {
    const page = await signedIn();
    const box = page.locator('#chat-input');
    await box.fill('first line');
    await box.press('Shift+Enter');
    await box.pressSequentially('second line');
    assert.equal(await box.inputValue(), 'first line\nsecond line', 'Shift+Enter adds a line and sends nothing');
    assert.equal(await page.locator('.messages .message.user').count(), 0);

    // Every text the reply showed on its way in.
    await inPage(page, `(() => {
      window.__seen = [];
      new MutationObserver(() => {
        const last = [...document.querySelectorAll('.messages .message.assistant')].pop();
        if (last) window.__seen.push(last.textContent.replace('▍', '').trim());
      }).observe(document.querySelector('.messages'), { subtree: true, childList: true, characterData: true });
    })()`);
    const message = 'Streaming replies arrive piece by piece, not all at once.';
    await box.fill(message);
    await box.press('Enter');
    await replyIs(page, message);
    const seen = await inPage<string[]>(page, 'window.__seen');
    const partial = new Set(seen.filter((text) => text.length > 0 && text.length < message.length && message.startsWith(text)));
    assert.ok(partial.size >= 2, `the reply grew in steps before it was complete: ${JSON.stringify([...partial])}`);

    await page.reload();
    await page.locator('.messages .message.assistant').filter({ hasText: message }).waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator('.messages .message.user').filter({ hasText: message }).count(), 1);
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('XSS payloads in a reply run nothing and render as text or inert markup', async () => {
    const page = await signedIn();
    const payloads = [
      '<img src=x onerror=window.__xss=1>',
      '<script>window.__xss=2</script>',
      '[click me](javascript:window.__xss=3)',
      '<a href=javascript:window.__xss=4>also click</a>',
      '<svg><animate onbegin=window.__xss=5 attributeName=x dur=1s></svg>',
    ];
    await send(page, `payload ${payloads.join(' ')} end`);
    await page.locator('.messages .message.assistant').last().filter({ hasText: 'end' }).waitFor({ timeout: WAIT_MS });
    await page.locator('#chat-input + button[type=submit]').waitFor({ timeout: WAIT_MS });
    const reply = page.locator('.messages .message.assistant').last();
    assert.match((await reply.textContent())!, /click me/, 'the link text is shown');
    for (const link of await reply.locator('a').all()) await link.click({ modifiers: [] }).catch(() => undefined);
    await page.waitForTimeout(300);
    assert.equal(await inPage(page, 'window.__xss'), undefined, 'no payload ran');
    assert.equal(await inPage(page, `document.querySelectorAll('.messages script, .messages [onerror], .messages [onbegin], .messages a[href^="javascript"]').length`), 0);
    // The user's own message is plain text, tags and all.
    assert.equal(await page.locator('.messages .message.user').last().textContent(), `payload ${payloads.join(' ')} end`);
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('API errors appear in the conversation: AGENT_ERROR with its message', async () => {
    const page = await signedIn();
    await page.getByLabel('Agent').selectOption('broken');
    await send(page, 'hello?');
    const error = page.locator('.messages .message.error');
    await error.waitFor({ timeout: WAIT_MS });
    assert.match((await error.textContent())!, /^AGENT_ERROR: .*nowhere/);
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('Stop cancels a reply in progress; the next message works', async () => {
    const page = await signedIn();
    await send(page, `a long message ${'that goes on '.repeat(40)}`);
    const stop = page.getByRole('button', { name: 'Stop' });
    await page.locator('.messages .cursor').waitFor({ timeout: WAIT_MS });
    await stop.click();
    await page.locator('.messages .message.note').filter({ hasText: 'Stopped.' }).waitFor({ timeout: WAIT_MS });
    await send(page, 'after the stop');
    await replyIs(page, 'after the stop');
    await page.context().close();
  });

  // POST /api/agent queues a message behind the reply its conversation is producing (it has no BUSY answer).
  test('a second message while the reply is still streaming (from another tab on the same conversation) waits its turn; both replies arrive', async () => {
    const first = await signedIn();
    const second = await first.context().newPage();
    await second.goto(gateway.url('/'));
    await second.locator('#chat-input').waitFor({ timeout: WAIT_MS });
    const long = `the first message ${'goes on and on '.repeat(30)}`.trim();
    await send(first, long);
    await first.locator('.messages .cursor').waitFor({ timeout: WAIT_MS });
    await send(second, 'the second message');
    await replyIs(second, 'the second message');
    await replyIs(first, long);
    assert.equal(await first.locator('.messages .message.error').count(), 0);
    assert.equal(await second.locator('.messages .message.error').count(), 0);
    await first.reload();
    // The conversation's history arrives after the page has loaded.
    await first.locator('.messages .message.user', { hasText: 'the second message' }).waitFor({ timeout: WAIT_MS });
    const texts = await first.locator('.messages .message.user').allTextContents();
    assert.deepEqual(texts.slice(-2), [long, 'the second message'], 'both are in the conversation, in the order sent');
    assert.deepEqual(pageErrors(first), []);
    await first.context().close();
  });

  test('page responses carry the CSP and other headers and never the token', async () => {
    const page = await newPage(browser);
    const checks: Array<Promise<void>> = [];
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    const onResponse = (response: Response) => {
      const url = new URL(response.url());
      if (url.port !== String(gateway.port) || url.pathname.startsWith('/api/')) return;
      checks.push((async () => {
        const headers = await response.allHeaders();
        assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/, url.pathname);
        assert.equal(headers['x-content-type-options'], 'nosniff', url.pathname);
        assert.equal(headers['referrer-policy'], 'no-referrer', url.pathname);
        assert.ok(!(await response.body()).toString('latin1').includes(TOKEN), `${url.pathname} holds no token`);
      })());
    };
    page.on('response', onResponse);
    await page.goto(gateway.url(`/#token=${TOKEN}`));
    await page.locator('#chat-input').waitFor({ timeout: WAIT_MS });
    await page.waitForLoadState('load');
    // The Markdown renderer and the other views are fetched after the first paint: check them too,
    // and read every body before the page closes. A function, not a string: the CSP forbids evaluating strings.
    await page.waitForFunction(() => (globalThis as any).performance.getEntriesByType('resource').filter((r: { name: string; responseEnd: number }) => r.name.includes('/assets/') && r.responseEnd > 0).length >= 8, undefined, { timeout: WAIT_MS });
    page.off('response', onResponse);
    await Promise.all(checks);
    assert.ok(checks.length >= 9, `the page and every file it loads were checked (${checks.length})`);
    assert.deepEqual(urls.filter((url) => url.includes(TOKEN)), [], 'the token is in no request URL (the fragment is never sent)');
    await page.context().close();
  });

  test("a page of another site that opens the control page gets no handle on its window; the person's own visit skips that policy", async () => {
    // Another origin on this host (another port is another origin of the same site).
    const other = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>another site</title>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const page = await newPage(browser);
      await page.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`);
      const [popup, response] = await Promise.all([
        page.context().waitForEvent('page'),
        page.context().waitForEvent('response', (r) => new URL(r.url()).port === String(gateway.port) && new URL(r.url()).pathname === '/'),
        inPage(page, `(window.opened = window.open(${JSON.stringify(gateway.url('/'))}), true)`),
      ]);
      assert.equal(await response.headerValue('cross-origin-opener-policy'), 'same-origin');
      await popup.locator('#token').waitFor({ timeout: WAIT_MS });
      assert.equal(await inPage(popup, 'window.opener === null'), true, 'the control page has no opener');
      assert.equal(await inPage(page, 'window.opened.closed'), true, 'the other site sees the window as closed: it cannot navigate or probe it');
      const own = await newPage(browser);
      const ownResponse = await own.goto(gateway.url('/'));
      assert.equal(await ownResponse!.headerValue('cross-origin-opener-policy'), null, 'a navigation from the address bar has no other window to keep away');
      await own.context().close();
      await page.context().close();
    } finally {
      other.close();
    }
  });

  // Last: it locks this machine's address out of the gateway for minutes.
  test('the failed-auth lockout is shown as such, with its wait time: in the conversation (RATE_LIMITED), and at sign-in', async () => {
    const open = await signedIn();
    await open.locator('#chat-input').fill('sent while locked out');
    for (let i = 0; i < 10; i++) await fetch(gateway.url('/api/status'), { headers: { authorization: 'Bearer wrong-guess' } });
    await open.locator('#chat-input').press('Enter');
    const error = open.locator('.messages .message.error');
    await error.waitFor({ timeout: WAIT_MS });
    assert.match((await error.textContent())!, /^RATE_LIMITED: Too many failed authentication attempts from this address .*retry in \d+ s$/);
    assert.equal(await open.locator('#chat-input').inputValue(), 'sent while locked out', 'the message that did not get through is back in the box');
    assert.deepEqual(pageErrors(open), []);
    await open.context().close();

    const page = await newPage(browser);
    await page.goto(gateway.url(`/#token=${TOKEN}`));
    const reason = page.locator('#sign-in-reason');
    await reason.waitFor({ timeout: WAIT_MS });
    assert.match((await reason.textContent())!, /^Locked out after too many failed sign-in attempts from this address: retry in \d+ s\.$/);
    await page.context().close();
  });
});
