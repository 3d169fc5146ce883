import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { removeHome, runCli, startGateway, tempHome, waitUntil, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';

/** `xopc cron ...` against a real running gateway, found through its lock, with the token from its config. */
describe('xopc cron', () => {
  let mock: MockLlm;
  let gateway: Gateway;

  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 50, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
    gateway = await startGateway({
      config: {
        agents: { default: 'main', defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 }, list: [{ id: 'main' }] },
        providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
      },
    });
  });
  after(async () => {
    await gateway?.stop();
    if (gateway) removeHome(gateway.home);
    await mock?.stop();
  });

  const cron = (...args: string[]) => runCli(gateway.home, ['cron', ...args]);
  const listJson = async () => {
    const result = await cron('list', '--json');
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as any[];
  };

  test('add, list, run, toggle and rm a job', async () => {
    const empty = await cron('list');
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /No cron jobs/);

    const added = await cron('add', '--schedule', '0 9 * * 1-5', '--message', 'Remind me to stand up', '--tz', 'Europe/Paris', '--name', 'standup');
    assert.equal(added.code, 0, added.stderr);
    const id = /Created job ([a-z0-9]+) \(next run (\S+)\)/.exec(added.stdout)?.[1];
    assert.ok(id, added.stdout);

    const table = await cron('list');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`${id}\\s+enabled\\s+0 9 \\* \\* 1-5 \\(Europe/Paris\\)`));
    assert.match(table.stdout, /standup/);

    const run = await cron('run', id);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /triggered/);
    const [ran] = await waitUntil(async () => {
      const jobs = await listJson();
      return jobs[0]?.lastRun && !jobs[0].running ? jobs : null;
    }, 10_000, 'the triggered run');
    assert.equal(ran.lastRun.trigger, 'manual');
    assert.equal(ran.lastRun.status, 'ok');
    assert.equal(ran.lastRun.reply, 'Remind me to stand up');

    const off = await cron('toggle', id);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, new RegExp(`Job ${id} disabled`));
    assert.match((await cron('toggle', id, '--disable')).stdout, /disabled/, 'an explicit --disable is idempotent');
    assert.match((await cron('toggle', id)).stdout, new RegExp(`Job ${id} enabled \\(next run `));

    const removed = await cron('rm', id);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(await listJson(), []);
    const again = await cron('rm', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^❌ JOB_NOT_FOUND: No cron job with id/);
  });

  test('one-shot jobs, chats with negative ids, disabled jobs', async () => {
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const added = await cron('add', '--at', at, '--message', 'later', '--channel', 'webchat', '--chat-id=-100123', '--disabled', '--json');
    assert.equal(added.code, 0, added.stderr);
    const job = JSON.parse(added.stdout);
    assert.equal(job.at, at);
    assert.equal(job.chat_id, '-100123');
    assert.equal(job.enabled, false);
    assert.equal((await cron('rm', job.id)).code, 0);
  });

  test('bad input: usage errors exit 2, API errors exit 1 with the reason on one line', async () => {
    const noSchedule = await cron('add', '--message', 'hi');
    assert.equal(noSchedule.code, 2);
    assert.match(noSchedule.stderr, /Give --schedule \(recurring\) or --at \(one-shot\)/);
    const noMessage = await cron('add', '--schedule', '* * * * *');
    assert.equal(noMessage.code, 2);
    assert.match(noMessage.stderr, /--message is required/);

    const badExpression = await cron('add', '--schedule', '61 * * * *', '--message', 'hi');
    assert.equal(badExpression.code, 1);
    assert.equal(badExpression.stderr.trim().split('\n').length, 1);
    assert.match(badExpression.stderr, /❌ INVALID_REQUEST: Invalid cron expression "61 \* \* \* \*"/);
    const badZone = await cron('add', '--schedule', '* * * * *', '--message', 'hi', '--tz', 'Mars/Olympus');
    assert.match(badZone.stderr, /INVALID_REQUEST: Unknown time zone/);
    assert.deepEqual(await listJson(), [], 'nothing was created');

    const wrongToken = await cron('list', '--token', 'not-the-token-0123456789');
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /UNAUTHORIZED/);

    const help = await cron('--help');
    assert.equal(help.code, 0);
    for (const command of ['list', 'add', 'rm <id>', 'run <id>', 'toggle <id>']) assert.ok(help.stdout.includes(command), command);
  });

  test('without a running gateway it says so and exits 3', async () => {
    const home = tempHome();
    try {
      const result = await runCli(home, ['cron', 'list']);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /Gateway is not running/);
    } finally {
      removeHome(home);
    }
  });
});
