// `npm run screenshots`: small PNGs of the control page for the README (docs/screenshots/),
// taken with the same browser set-up as the tests (Debian's Chromium through playwright-core)
// against a real gateway whose model is a local mock-llm. Run after `npm run build`.
import { mkdirSync } from 'node:fs';
import { launchChromium, newPage } from '../dist/test/helpers/browser.js';
import { removeHome, startGateway } from '../dist/test/helpers/gateway.js';
import { chatRule, completion, startMockLlm } from '../dist/test/helpers/mock-llm.js';

const out = new URL('../docs/screenshots/', import.meta.url);
const TOKEN = 'screenshot-token-0123456789abcdef';
const REPLY = 'Here is what I can do from this machine:\\n\\n- **answer** questions, with Markdown like `code` and [links](https://example.com)\\n- **schedule** reminders as cron jobs\\n- **send** messages to your Telegram chats\\n\\nAsk away.';

mkdirSync(out, { recursive: true });
const mock = await startMockLlm({ streaming: { chunkSize: 400, chunkIntervalMs: 1 }, rules: [chatRule('@', 200, completion(REPLY))] });
const gateway = await startGateway({
  config: {
    gateway: { auth: { token: TOKEN } },
    agents: { defaults: { model: 'mock/assistant', maxRetries: 0 } },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock' } },
  },
});
const browser = await launchChromium();
try {
  const api = (method, path, body) => fetch(gateway.url(path), { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) }).then((r) => r.json());
  for (const name of ['groceries', 'trip-planning']) await api('POST', '/api/agent', { message: `Notes about ${name}`, session: name });
  const job = (await api('POST', '/api/cron/create', { name: 'morning-brief', schedule: '0 8 * * 1-5', timezone: 'Europe/Paris', message: 'Give me my morning brief' })).job;
  await api('POST', '/api/cron/create', { name: 'water-plants', schedule: '@weekly', timezone: 'UTC', message: 'Remind me to water the plants' });
  await api('POST', '/api/cron/trigger', { job_id: job.id });

  const shoot = async (file, view, options, prepare) => {
    const page = await newPage(browser, options);
    await page.goto(gateway.url(`/#token=${TOKEN}`));
    await page.locator('#chat-input').waitFor();
    if (view !== 'chat') {
      await page.evaluate(`location.hash = '#/${view}'`);
      await page.locator(`#${view}-title`).waitFor();
    }
    await prepare?.(page);
    await page.waitForTimeout(500);
    await page.screenshot({ path: new URL(file, out).pathname });
    await page.context().close();
    console.log(`docs/screenshots/${file}`);
  };
  const chat = async (page) => {
    await page.locator('#chat-input').fill('What can you do?');
    await page.locator('#chat-input').press('Enter');
    await page.locator('.message.assistant').filter({ hasText: 'Ask away' }).waitFor();
  };
  await shoot('chat.png', 'chat', { viewport: { width: 960, height: 560 }, colorScheme: 'light' }, chat);
  await shoot('cron-dark.png', 'cron', { viewport: { width: 960, height: 560 }, colorScheme: 'dark' }, async (page) => {
    await page.locator('tr[data-job]').first().waitFor();
  });
  await shoot('phone-dark.png', 'chat', { viewport: { width: 390, height: 640 }, colorScheme: 'dark', isMobile: true }, chat);
} finally {
  await browser.close();
  await gateway.stop();
  removeHome(gateway.home);
  await mock.stop();
}
