import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, needsChromium, newPage, pageErrors } from './helpers/browser.js';
import { removeHome, runCli, startGateway, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

const TOKEN = 'ui-restart-token-0123456789abcdef';
const WAIT_MS = 20_000;

/**
 * `xopc gateway restart` while the control page is open, in both restart modes, and a
 * gateway that is down for a while: the page recovers by itself (the live log follows the
 * new worker, the status shows it), what was typed is still there, and the next message works.
 */
describe('control page across `xopc gateway restart`', { skip: needsChromium() }, () => {
  let browser: Browser;
  let mock: MockLlm;
  before(async () => {
    [browser, mock] = await Promise.all([launchChromium(), startMockLlm({ streaming: { chunkSize: 200, chunkIntervalMs: 1 }, rules: [ECHO_RULE] })]);
  });
  after(async () => {
    await browser?.close();
    await mock?.stop();
  });

  /** A gateway whose model is mock-llm echoing each message back. */
  const echoConfig = () => ({
    gateway: { auth: { token: TOKEN } },
    agents: { defaults: { model: 'mock/echo', maxRetries: 0, timeoutMs: 10_000 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
  });

  /** Sends what the chat box holds (`text`), waits for its echo, and closes the page, which threw nothing. */
  async function sentAndAnswered(page: Page, text: string): Promise<void> {
    await page.locator('#chat-input').press('Enter');
    await page.locator('.messages .message.assistant').filter({ hasText: text }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(pageErrors(page), []);
    await page.context().close();
  }

  /** A failed test's error, with the tail of the gateway's output when one runs. */
  function withOutput(err: unknown, gateway: Gateway | undefined): unknown {
    if (err instanceof Error && gateway) err.message += `\n--- gateway output (tail) ---\n${gateway.output().slice(-4000)}`;
    return err;
  }

  test('gateway unreachable: the page says "Reconnecting", keeps what was typed, and recovers by itself once the gateway is back', { timeout: 120_000 }, async () => {
    const config = echoConfig();
    let gateway: Gateway | undefined = await startGateway({ config });
    const home = gateway.home;
    try {
      const port = gateway.port;
      const page = await newPage(browser);
      await page.goto(gateway.url(`/#token=${TOKEN}`));
      const box = page.locator('#chat-input');
      await box.waitFor({ timeout: WAIT_MS });
      const banner = page.locator('header .connection');
      assert.equal(await banner.textContent(), 'Connected');

      await gateway.stop();
      gateway = undefined;
      await box.fill('typed while the gateway is down');
      await box.press('Enter');
      await page.locator('header .connection.reconnecting').filter({ hasText: 'Reconnecting' }).waitFor({ timeout: WAIT_MS });
      await page.locator('.messages .message.error').filter({ hasText: 'NETWORK' }).waitFor({ timeout: WAIT_MS });
      assert.equal(await box.inputValue(), 'typed while the gateway is down', 'the message that did not get through is back in the box');
      await box.press('End');
      await box.pressSequentially(', and more');

      // The same gateway (home, config, port) comes back: the page notices by itself.
      gateway = await startGateway({ home, config, args: ['--port', String(port), '--host', '127.0.0.1'] });
      await page.locator('header .connection.up').filter({ hasText: 'Connected' }).waitFor({ timeout: WAIT_MS });
      assert.equal(await box.inputValue(), 'typed while the gateway is down, and more', 'nothing typed is lost');
      await sentAndAnswered(page, 'typed while the gateway is down, and more');
    } catch (err) {
      throw withOutput(err, gateway);
    } finally {
      await gateway?.stop();
      removeHome(home);
    }
  });

  for (const mode of ['in-process', 'respawn'] as const) {
    test(`${mode} restart: the page recovers by itself and the next message works`, { timeout: 120_000 }, async () => {
      let gateway: Gateway | undefined;
      try {
        gateway = await startGateway({
          env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', ...(mode === 'in-process' ? { XOPC_NO_RESPAWN: '1' } : {}) },
          config: echoConfig(),
        });
        const g = gateway;
        const page = await newPage(browser);
        await page.goto(g.url(`/#token=${TOKEN}`));
        const box = page.locator('#chat-input');
        await box.waitFor({ timeout: WAIT_MS });
        await box.fill('typed before the restart');
        await page.evaluate("location.hash = '#/logs'");
        await page.locator('.logs .connection.up').waitFor({ timeout: WAIT_MS });

        const before = g.lock()!;
        const restart = await runCli(g.home, ['gateway', 'restart'], { timeoutMs: 60_000 });
        assert.equal(restart.code, 0, restart.stdout + restart.stderr);
        const now = await g.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: WAIT_MS });
        if (mode === 'respawn') assert.notEqual(now.pid, before.pid, 'a new supervisor');

        // The live log follows the new worker without a reload.
        const marker = `/after-restart-${mode}-${Date.now()}`;
        await page.locator('.logs .connection.up').waitFor({ timeout: WAIT_MS });
        await fetch(g.url(marker));
        await page.locator('.log-line').filter({ hasText: marker }).waitFor({ timeout: WAIT_MS });

        // The status shows the new worker.
        await page.evaluate("location.hash = '#/status'");
        await page.locator('#worker-pid').filter({ hasText: String(now.workerPid) }).waitFor({ timeout: WAIT_MS });
        assert.equal(await page.locator('#supervisor-pid').textContent(), String(now.pid));

        // What was typed is still there, and it goes through.
        await page.evaluate("location.hash = '#/chat'");
        await box.waitFor({ timeout: WAIT_MS });
        assert.equal(await box.inputValue(), 'typed before the restart');
        await sentAndAnswered(page, 'typed before the restart');
      } catch (err) {
        throw withOutput(err, gateway);
      } finally {
        await gateway?.stop();
        if (gateway) removeHome(gateway.home);
      }
    });
  }
});
