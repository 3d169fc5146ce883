import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { horizontalOverflow, inPage, launchChromium, needsChromium, newPage, pageErrors, seriousA11yViolations } from './helpers/browser.js';
import { removeHome, startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { startTelegramEmulator, type TelegramEmulator } from './helpers/telegram.js';

const TOKEN = 'ui-views-token-0123456789abcdefgh';
const WAIT_MS = 15_000;
const VIEWS = ['chat', 'sessions', 'cron', 'logs', 'status'] as const;

/**
 * The control page's other views in real Chromium, against a real gateway with the
 * Telegram emulator as a channel and mock-llm as the model: sessions, cron, the live
 * log, the status; every view on a phone-sized screen, in the dark scheme, and through axe.
 */
describe('control page: sessions, cron, logs, status, layout and accessibility', { skip: needsChromium() }, () => {
  let browser: Browser;
  let mock: MockLlm;
  let telegram: TelegramEmulator;
  let gateway: Gateway;

  before(async () => {
    [browser, mock, telegram] = await Promise.all([launchChromium(), startMockLlm({ streaming: { chunkSize: 200, chunkIntervalMs: 1 }, rules: [ECHO_RULE] }), startTelegramEmulator()]);
    gateway = await startGateway({
      config: {
        gateway: { auth: { token: TOKEN } },
        agents: { defaults: { model: 'mock/echo', maxRetries: 0, timeoutMs: 10_000 } },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
        channels: { telegram: { enabled: true, token: telegram.token, apiRoot: telegram.apiRoot, pollIntervalMs: 50 } },
      },
    });
  });
  after(async () => {
    await browser?.close();
    await gateway?.stop();
    await telegram?.stop();
    await mock?.stop();
    if (gateway) removeHome(gateway.home);
  });

  async function open(view: (typeof VIEWS)[number], options: BrowserContextOptions = {}): Promise<Page> {
    const page = await newPage(browser, options);
    await page.goto(gateway.url(`/#token=${TOKEN}`));
    await page.locator('#chat-input').waitFor({ timeout: WAIT_MS });
    await page.evaluate(`location.hash = '#/${view}'`);
    await page.locator(`#${view}-title`).waitFor({ timeout: WAIT_MS });
    return page;
  }

  async function api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(gateway.url(path), { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return res.json();
  }

  test('a Telegram message appears in the sessions list without a reload; it opens and deletes with confirmation', async () => {
    const page = await open('sessions');
    await telegram.say({ userId: 5101, userName: 'tina' }, 'hello from telegram');
    const row = page.locator('tr[data-key="main:telegram:5101"]');
    await row.waitFor({ timeout: WAIT_MS });
    await row.getByRole('button', { name: '5101', exact: true }).click();
    await page.locator('#session-detail .message.user').filter({ hasText: 'hello from telegram' }).waitFor({ timeout: WAIT_MS });
    await page.getByRole('combobox', { name: 'Channel' }).selectOption('webchat');
    await row.waitFor({ state: 'detached', timeout: WAIT_MS });
    await page.getByRole('combobox', { name: 'Channel' }).selectOption('telegram');
    await row.getByRole('button', { name: 'Delete session main:telegram:5101' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await row.waitFor({ state: 'detached', timeout: WAIT_MS });
    assert.equal((await api('GET', '/api/sessions/main:telegram:5101')).error.code, 'SESSION_NOT_FOUND');
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('sessions pager: more sessions than a page; Older and Newer show the right ones, newest first', async () => {
    // 25 conversations through the API, one after the other (each is newer than the last).
    const names = Array.from({ length: 25 }, (_, i) => `pager-${String(i).padStart(2, '0')}`);
    for (const name of names) {
      const reply = await api('POST', '/api/agent', { message: `hi ${name}`, session: name });
      assert.equal(reply.status, 'ok', JSON.stringify(reply));
    }
    const newestFirst = names.map((name) => `main:api:${name}`).reverse();
    const page = await open('sessions');
    await page.getByRole('combobox', { name: 'Channel' }).selectOption('api');
    const shown = () => page.locator('tr[data-key]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-key')));
    const pager = page.locator('.pager span');
    await pager.filter({ hasText: /^1–20 of 25$/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(await shown(), newestFirst.slice(0, 20), 'page 1: the 20 newest');
    assert.equal(await page.getByRole('button', { name: 'Newer' }).isDisabled(), true);

    await page.getByRole('button', { name: 'Older' }).click();
    await pager.filter({ hasText: /^21–25 of 25$/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(await shown(), newestFirst.slice(20), 'page 2: the 5 oldest');
    assert.equal(await page.getByRole('button', { name: 'Older' }).isDisabled(), true);

    await page.getByRole('button', { name: 'Newer' }).click();
    await pager.filter({ hasText: /^1–20 of 25$/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(await shown(), newestFirst.slice(0, 20), `back on page 1 (page errors: ${pageErrors(page).join('; ')})`);
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('cron: a bad schedule shows the API\'s message by the field; a good job appears, toggles, runs now, and its run is in the history', async () => {
    const page = await open('cron');
    const expected = (await api('POST', '/api/cron/create', { schedule: 'every tuesday-ish', message: 'x', timezone: 'UTC' })).error.message as string;
    await page.locator('#cron-schedule').fill('every tuesday-ish');
    await page.locator('#cron-timezone').fill('UTC');
    await page.locator('#cron-message').fill('x');
    await page.getByRole('button', { name: 'Create job' }).click();
    const fieldError = page.locator('#cron-schedule-error');
    await fieldError.waitFor({ timeout: WAIT_MS });
    assert.equal(await fieldError.textContent(), `INVALID_REQUEST: ${expected}`);
    assert.equal(await page.locator('#cron-schedule').getAttribute('aria-invalid'), 'true');
    assert.deepEqual((await api('GET', '/api/cron')).jobs, [], 'nothing was created');

    await page.locator('#cron-schedule').fill('0 0 1 1 *');
    await page.locator('#cron-message').fill('cron says hello');
    await page.locator('#cron-name').fill('new-year');
    await page.getByRole('button', { name: 'Create job' }).click();
    const row = page.locator('tr[data-job]').filter({ hasText: 'new-year' });
    await row.waitFor({ timeout: WAIT_MS });
    assert.equal(await fieldError.count(), 0, 'the error is gone');
    const toggle = row.getByRole('switch');
    assert.equal(await toggle.getAttribute('aria-checked'), 'true');
    await toggle.click();
    await row.locator('[role=switch][aria-checked=false]').waitFor({ timeout: WAIT_MS });
    assert.equal((await api('GET', '/api/cron')).jobs[0].enabled, false);
    await row.getByRole('button', { name: 'Run now' }).click();
    await row.getByRole('button', { name: 'History' }).click();
    await page.locator('.history .runs li').filter({ hasText: 'manual' }).filter({ hasText: 'ok' }).waitFor({ timeout: WAIT_MS });
    assert.match((await page.locator('.history').textContent())!, /cron says hello/, 'the run\'s reply (the echo) is shown');
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('a line the gateway writes to its log appears in the log view within 2 s', async () => {
    const page = await open('logs');
    await page.locator('.logs .connection.up').waitFor({ timeout: WAIT_MS });
    const marker = `/marker-${Date.now()}`;
    // An unknown route: the gateway logs the request (and answers 404).
    await fetch(gateway.url(marker));
    await page.locator('.log-line').filter({ hasText: marker }).waitFor({ timeout: 2000 });
    // The level filter reaches the server: at warn and above, request lines are gone.
    await page.getByRole('combobox', { name: 'Level' }).selectOption('warn');
    await page.locator('.log-line').filter({ hasText: marker }).waitFor({ state: 'detached', timeout: WAIT_MS });
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('logs: scrolling up loads the earlier lines, each once and none skipped, while new lines keep coming', async () => {
    // More lines than the view's first read (200) and its step back (200): one request each.
    const run = `page-log-${Date.now()}`;
    let next = 0;
    const request = async () => {
      const res = await fetch(gateway.url(`/${run}-${next++}`));
      await res.arrayBuffer();
    };
    while (next < 450) await request();
    const page = await open('logs');
    await page.getByRole('searchbox', { name: 'Search' }).fill(run);
    // Runs in the page (serialized; the page's CSP allows no string evaluation): the run's line numbers as shown.
    const shownNumbers = (prefix: string): number[] => {
      const lines = [...(globalThis as any).document.querySelectorAll('.log-line')] as Array<{ textContent: string }>;
      return lines.map((line) => new RegExp(`${prefix}-(\\d+)`).exec(line.textContent)?.[1]).filter((n) => n !== undefined).map(Number);
    };
    const numbers = () => page.evaluate(shownNumbers, run);
    const shows = (n: number) => waitUntil(async () => (await numbers()).includes(n), WAIT_MS, `line ${n} in the log view`);
    await shows(449);

    // A busy gateway: lines keep being written while the view reads back.
    let writing = true;
    const writer = (async () => {
      while (writing && next < 2000) await request();
    })();
    const earlier = page.getByRole('button', { name: 'Load earlier lines' });
    for (let i = 0; i < 10 && !(await earlier.isDisabled()); i++) {
      const before = (await numbers()).length;
      await page.locator('.log-lines').evaluate((list) => list.scrollTo({ top: 0 }));
      await waitUntil(async () => (await numbers()).length > before || (await earlier.isDisabled()), WAIT_MS, 'earlier lines');
    }
    writing = false;
    await writer;
    assert.equal(await earlier.isDisabled(), true, 'the start of the log was reached');
    await shows(next - 1);
    const shown = await numbers();
    assert.deepEqual(shown, Array.from({ length: next }, (_, i) => i), `every line once, in order (${next} written)`);
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  });

  test('status: up, version, pids, port, channels, the agent\'s provider', async () => {
    const page = await open('status');
    await page.locator('#worker-pid').waitFor({ timeout: WAIT_MS });
    const lock = gateway.lock()!;
    assert.equal(await page.locator('#gateway-state').textContent(), 'Up');
    assert.equal(await page.locator('#supervisor-pid').textContent(), String(lock.pid));
    assert.equal(await page.locator('#worker-pid').textContent(), String(lock.workerPid));
    const text = (await page.locator('xopc-status-view').textContent())!;
    assert.match(text, new RegExp(`127\\.0\\.0\\.1:${gateway.port}`));
    assert.match(text, /telegram/);
    assert.match(text, /mock\/echo/);
    await page.context().close();
  });

  test('keyboard alone: Tab reaches the skip link, then the views\' links; Enter opens one; focus is visible', async () => {
    const page = await open('chat');
    await page.locator('body').focus();
    await page.keyboard.press('Tab');
    assert.equal(await inPage(page, 'document.activeElement.textContent'), 'Skip to content');
    for (let i = 0; i < 10 && (await inPage(page, 'document.activeElement.textContent')) !== 'Cron'; i++) await page.keyboard.press('Tab');
    assert.equal(await inPage(page, 'document.activeElement.textContent'), 'Cron');
    await page.keyboard.press('Enter');
    await page.locator('#cron-title').waitFor({ timeout: WAIT_MS });
    assert.equal(await inPage(page, "getComputedStyle(document.activeElement).outlineStyle !== 'none'"), true, 'focus is visible');
    await page.context().close();
  });

  test('every view: no serious or critical axe violation, light and dark', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const page = await open('chat', { colorScheme });
      for (const view of VIEWS) {
        await page.evaluate(`location.hash = '#/${view}'`);
        await page.locator(`#${view}-title`).waitFor({ timeout: WAIT_MS });
        await page.waitForTimeout(300);
        assert.deepEqual(await seriousA11yViolations(page), [], `${view} (${colorScheme})`);
      }
      await page.context().close();
    }
  });

  test('390 px wide: no horizontal scrolling on any view; the dark scheme renders dark', async () => {
    const page = await open('chat', { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    for (const view of VIEWS) {
      await page.evaluate(`location.hash = '#/${view}'`);
      await page.locator(`#${view}-title`).waitFor({ timeout: WAIT_MS });
      await page.waitForTimeout(300);
      assert.equal(await horizontalOverflow(page), 0, `${view} fits 390 px`);
    }
    const [r, g, b] = (await inPage<string>(page, 'getComputedStyle(document.body).backgroundColor')).match(/\d+/g)!.map(Number);
    assert.ok(r! + g! + b! < 120, `dark background (rgb ${r}, ${g}, ${b})`);
    const light = await open('chat', { colorScheme: 'light' });
    const [lr, lg, lb] = (await inPage<string>(light, 'getComputedStyle(document.body).backgroundColor')).match(/\d+/g)!.map(Number);
    assert.ok(lr! + lg! + lb! > 600, 'light background in the light scheme');
    await light.context().close();
    await page.context().close();
  });
});
