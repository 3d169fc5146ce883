import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAgentApp, type AgentApp } from './helpers/agent-app.js';
import { waitUntil } from './helpers/gateway.js';
import { chatRule, completion, ECHO_RULE, errorContent, startMockLlm, toolCallRule, type MockLlm, type MockLlmRule } from './helpers/mock-llm.js';

// The gateway must never reach a real provider from a test.
delete process.env.OPENAI_API_KEY;
delete process.env.ANTHROPIC_API_KEY;

const FAST = { chunkSize: 50, chunkIntervalMs: 1 };
const FAIL_RULE = chatRule("contains(body.messages[-1].content, 'FAIL')", 500, errorContent('the model is down'));
// Long enough to see that a negative ("nothing ran") covers at least two occurrences of an every-second job.
const QUIET_MS = 2200;
const RUN_TIMEOUT_MS = 10_000;

describe('cron jobs through /api/cron on the worker app', () => {
  let mock: MockLlm;
  let app: AgentApp;

  before(async () => {
    mock = await startMockLlm({ streaming: FAST, rules: [ECHO_RULE, FAIL_RULE] });
    app = await startAgentApp({
      agents: { default: 'main', defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 }, list: [{ id: 'main' }] },
      providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
    });
    await app.features.startBackground();
  });
  after(async () => {
    await app?.close();
    await mock?.stop();
  });
  // Every test leaves no job behind, so the next one sees only its own runs.
  afterEach(async () => {
    for (const job of (await app.call('GET', '/api/cron')).json.jobs) await app.call('DELETE', `/api/cron/${job.id}`);
    await mock.setConfig({ streaming: FAST, rules: [ECHO_RULE, FAIL_RULE] });
  });

  async function create(body: Record<string, unknown>) {
    const res = await app.call('POST', '/api/cron/create', body);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json.job;
  }
  const getJob = async (id: string) => (await app.call('GET', `/api/cron/${id}`)).json.job;
  const waitForRuns = (id: string, count: number, what = `${count} runs of job ${id}`) =>
    waitUntil(async () => {
      const job = await getJob(id);
      return job.runs.length >= count && !job.running ? job : null;
    }, RUN_TIMEOUT_MS, what);
  const sessionMessages = async (key: string) => {
    const res = await app.call('GET', `/api/sessions/${key}`);
    return res.status === 200 ? res.json.session.messages : [];
  };

  test('bad input answers INVALID_REQUEST with the reason and creates nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /message is required/],
      [{ schedule: '* * * * *', message: 5 }, /message must be a string/],
      [{ schedule: '* * * * *', message: '   ' }, /message must not be empty/],
      [{ message: 'hi' }, /schedule is required/],
      [{ message: 'hi', schedule: '61 * * * *' }, /Invalid cron expression "61 \* \* \* \*": Invalid value for minute: 61/],
      [{ message: 'hi', schedule: '* * *' }, /Invalid cron expression/],
      [{ message: 'hi', schedule: '0 0 30 2 *' }, /never fires/],
      [{ message: 'hi', schedule: '* * * * *', timezone: 'Mars/Olympus' }, /Unknown time zone "Mars\/Olympus"/],
      [{ message: 'hi', at: '2001-01-01T00:00:00Z' }, /is in the past/],
      [{ message: 'hi', at: 'tomorrow' }, /Invalid "at" time/],
      [{ message: 'hi', schedule: '* * * * *', at: '2099-01-01T00:00:00Z' }, /not both/],
      [{ message: 'hi', schedule: '* * * * *', channel: 'webchat' }, /channel and chat_id go together/],
      [{ message: 'hi', schedule: '* * * * *', agentId: 'ghost' }, /Unknown agentId "ghost"/],
      [{ message: 'hi', schedule: '* * * * *', enabled: 'yes' }, /enabled must be true or false/],
      ['[1,2]', /body must be a JSON object/],
    ];
    for (const [body, message] of cases) {
      const res = await app.call('POST', '/api/cron/create', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error.code, 'INVALID_REQUEST');
      assert.match(res.json.error.message, message, JSON.stringify(body));
    }
    const unknownChannel = await app.call('POST', '/api/cron/create', { message: 'hi', schedule: '* * * * *', channel: 'pager', chat_id: '1' });
    assert.equal(unknownChannel.status, 404);
    assert.equal(unknownChannel.json.error.code, 'CHANNEL_NOT_FOUND');

    assert.deepEqual((await app.call('GET', '/api/cron')).json, { status: 'ok', jobs: [] });
    assert.deepEqual(readdirSync(join(app.home, 'cron')).filter((name) => !name.startsWith('.')), []);
  });

  test('a 6-field every-second job runs several times; replies land in its session and its chat', async () => {
    const job = await create({ name: 'tick', schedule: '* * * * * *', message: 'tick tock', channel: 'webchat', chat_id: 'cron-chat' });
    assert.equal(job.timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
    assert.equal(job.session, `main:cron:${job.id}`);
    assert.equal(job.lastRun, null);
    assert.ok(Date.parse(job.nextRunAt) > Date.now() - 1000);

    // Not waiting for a moment with no run going: after a slow first run, the occurrences
    // owed meanwhile run back to back.
    const ran = await waitUntil(async () => {
      const current = await getJob(job.id);
      return current.runs.length >= 3 ? current : null;
    }, RUN_TIMEOUT_MS, `3 runs of job ${job.id}`);
    for (const run of ran.runs) {
      assert.equal(run.status, 'ok', JSON.stringify(run));
      // A run that took longer than a second (the first, cold one) is followed by a late run
      // for the occurrence that fell meanwhile: a catch-up.
      assert.ok(['schedule', 'catch-up'].includes(run.trigger), run.trigger);
      assert.equal(run.reply, 'tick tock');
      assert.equal(run.deliveredTo, 'webchat:cron-chat');
    }
    const occurrences = ran.runs.map((run: any) => Date.parse(run.scheduledFor)).reverse();
    assert.equal(new Set(occurrences).size, occurrences.length, 'no occurrence ran twice');
    for (const when of occurrences) assert.equal(when % 1000, 0);
    assert.deepEqual(ran.lastRun, ran.runs[0]);

    const listed = (await app.call('GET', '/api/cron')).json.jobs;
    assert.equal(listed.length, 1);
    assert.ok(listed[0].lastRun && listed[0].nextRunAt);

    // The job's own session holds each exchange; the chat got each reply.
    const own = await sessionMessages(job.session);
    assert.ok(own.filter((m: any) => m.role === 'user' && m.content === 'tick tock').length >= 3);
    const chat = await sessionMessages('main:webchat:cron-chat');
    assert.ok(chat.filter((m: any) => m.role === 'assistant' && m.content === 'tick tock').length >= 3);
  });

  test('trigger runs a job at once, outside its schedule; a running job is not started twice', async () => {
    const job = await create({ schedule: '0 0 1 1 *', message: 'happy new year', timezone: 'UTC' });
    const triggered = await app.call('POST', '/api/cron/trigger', { job_id: job.id });
    assert.deepEqual(triggered, { status: 200, json: { status: 'ok', message: 'Task triggered' } });
    const ran = await waitForRuns(job.id, 1);
    assert.equal(ran.runs[0].trigger, 'manual');
    assert.equal(ran.runs[0].scheduledFor, null);
    assert.equal(ran.runs[0].status, 'ok');
    assert.equal(ran.nextRunAt, job.nextRunAt, 'a manual run leaves the schedule alone');

    // A slow answer keeps the run going while a second trigger arrives.
    await mock.setConfig({ streaming: { chunkSize: 1, chunkIntervalMs: 40 }, rules: [ECHO_RULE] });
    assert.equal((await app.call('POST', '/api/cron/trigger', { job_id: job.id })).status, 200);
    const busy = await app.call('POST', '/api/cron/trigger', { job_id: job.id });
    assert.equal(busy.status, 400);
    assert.match(busy.json.error.message, /already running/);
    assert.ok((await getJob(job.id)).running);
    assert.equal((await waitForRuns(job.id, 2)).runs.length, 2);

    const unknown = await app.call('POST', '/api/cron/trigger', { job_id: 'nosuchjob' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, 'JOB_NOT_FOUND');
    const missing = await app.call('POST', '/api/cron/trigger', {});
    assert.equal(missing.json.error.code, 'INVALID_REQUEST');
    assert.match(missing.json.error.message, /job_id is required/);
  });

  test('toggle stops a job and resumes it without catching up the time it was off', async () => {
    const job = await create({ schedule: '* * * * * *', message: 'toggled' });
    await waitForRuns(job.id, 1);
    const off = await app.call('POST', `/api/cron/${job.id}/toggle`);
    assert.equal(off.json.job.enabled, false);
    assert.equal(off.json.job.nextRunAt, null);
    const before = (await waitForRuns(job.id, 1)).runs.length;
    await sleep(QUIET_MS);
    assert.equal((await getJob(job.id)).runs.length, before, 'a disabled job does not run');

    const on = await app.call('POST', `/api/cron/${job.id}/toggle`, { enabled: true });
    assert.equal(on.json.job.enabled, true);
    assert.ok(on.json.job.nextRunAt);
    const resumed = await waitForRuns(job.id, before + 1);
    assert.equal(resumed.runs[0].trigger, 'schedule', 'no catch-up for the time it was disabled');

    const unknown = await app.call('POST', '/api/cron/nosuchjob/toggle');
    assert.equal(unknown.json.error.code, 'JOB_NOT_FOUND');
  });

  test('delete stops a job and forgets it', async () => {
    const job = await create({ schedule: '* * * * * *', message: 'doomed', channel: 'webchat', chat_id: 'doomed-chat' });
    await waitForRuns(job.id, 1);
    assert.deepEqual(await app.call('DELETE', `/api/cron/${job.id}`), { status: 200, json: { status: 'ok' } });
    // A run that was in flight may still deliver; after that, nothing more.
    await sleep(300);
    const delivered = (await sessionMessages('main:webchat:doomed-chat')).length;
    await sleep(QUIET_MS);
    assert.equal((await sessionMessages('main:webchat:doomed-chat')).length, delivered);
    for (const [method, path, body] of [['GET', `/api/cron/${job.id}`], ['DELETE', `/api/cron/${job.id}`], ['POST', '/api/cron/trigger', { job_id: job.id }]] as const) {
      const res = await app.call(method, path, body);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.json.error.code, 'JOB_NOT_FOUND');
    }
  });

  test('a one-shot job runs once, then is disabled', async () => {
    const when = new Date(Math.ceil((Date.now() + 1200) / 1000) * 1000);
    const job = await create({ at: when.toISOString(), message: 'only once' });
    assert.equal(job.at, when.toISOString());
    assert.equal(job.nextRunAt, when.toISOString());
    const ran = await waitForRuns(job.id, 1);
    assert.equal(ran.runs[0].scheduledFor, when.toISOString());
    assert.equal(ran.enabled, false);
    assert.equal(ran.nextRunAt, null);

    // Taking the timers over again owes it nothing.
    await app.features.stopBackground();
    await app.features.startBackground();
    await sleep(300);
    assert.equal((await getJob(job.id)).runs.length, 1);
    const again = await app.call('POST', `/api/cron/${job.id}/toggle`);
    assert.equal(again.json.error.code, 'INVALID_REQUEST');
    assert.match(again.json.error.message, /has passed/);
  });

  test('a failing agent call is recorded and the job keeps its schedule', async () => {
    const job = await create({ schedule: '* * * * * *', message: 'FAIL each time' });
    const failed = await waitForRuns(job.id, 2);
    for (const run of failed.runs) {
      assert.equal(run.status, 'error');
      assert.match(run.error, /^AGENT_ERROR: /);
    }
    assert.equal(failed.enabled, true);
    assert.ok(failed.nextRunAt);
    // And it recovers when the provider does.
    await mock.setConfig({ streaming: FAST, rules: [ECHO_RULE] });
    const recovered = await waitUntil(async () => ((await getJob(job.id)).runs[0]?.status === 'ok' ? true : null), RUN_TIMEOUT_MS, 'a successful run');
    assert.ok(recovered);
  });

  test('missed runs: one catch-up at start for a job that missed occurrences, none for one that did not', async () => {
    await app.features.stopBackground();
    const stoppedAt = Date.now();
    const frequent = await create({ schedule: '* * * * * *', message: 'missed me' });
    const yearly = await create({ schedule: '0 0 1 1 *', message: 'not yet', timezone: 'UTC' });
    await sleep(QUIET_MS);
    assert.equal((await getJob(frequent.id)).runs.length, 0, 'no timers while background services are stopped');
    const startedAt = Date.now();
    await app.features.startBackground();

    const ran = await waitForRuns(frequent.id, 2);
    const oldestFirst = [...ran.runs].reverse();
    assert.equal(oldestFirst[0].trigger, 'catch-up');
    const missed = Date.parse(oldestFirst[0].scheduledFor);
    assert.ok(missed > stoppedAt && missed <= startedAt, 'the catch-up stands for the latest missed occurrence');
    assert.ok(startedAt - missed < 1000);
    assert.deepEqual(oldestFirst.slice(1).map((run: any) => run.trigger), oldestFirst.slice(1).map(() => 'schedule'));
    assert.equal((await getJob(yearly.id)).runs.length, 0);
  });

  test('a run left behind by a worker that died is taken over and finished once; one left twice is recorded as interrupted; an unreadable job file is skipped', async () => {
    const job = await create({ schedule: '0 0 1 1 *', message: 'orphaned', timezone: 'UTC' });
    const twice = await create({ schedule: '0 0 1 1 *', message: 'orphaned twice', timezone: 'UTC' });
    await app.features.stopBackground();
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const plant = (id: string, marker: Record<string, unknown>) => {
      const file = join(app.home, 'cron', `${id}.json`);
      const stored = JSON.parse(readFileSync(file, 'utf8'));
      stored.running = { pid: deadPid, pidStartTime: null, trigger: 'manual', scheduledFor: null, startedAt: new Date(Date.now() - 5000).toISOString(), ...marker };
      writeFileSync(file, JSON.stringify(stored));
    };
    plant(job.id, { runId: 'cron-run-left-behind', attempt: 1 });
    plant(twice.id, { runId: 'cron-run-left-twice', attempt: 2 });
    const broken = join(app.home, 'cron', 'broken.json');
    writeFileSync(broken, '{"not": "a job"');
    try {
      await app.features.startBackground();
      const finished = await waitForRuns(job.id, 1);
      assert.equal(finished.running, null);
      assert.equal(finished.runs.length, 1);
      assert.equal(finished.runs[0].status, 'ok', JSON.stringify(finished.runs[0]));
      assert.equal(finished.runs[0].resumed, true);
      assert.equal(finished.runs[0].trigger, 'manual');
      const settled = await getJob(twice.id);
      assert.equal(settled.running, null);
      assert.equal(settled.runs.length, 1);
      assert.equal(settled.runs[0].status, 'error');
      assert.match(settled.runs[0].error, /^Interrupted/);
      assert.deepEqual((await app.call('GET', '/api/cron')).json.jobs.map((j: any) => j.id).sort(), [job.id, twice.id].sort());
    } finally {
      rmSync(broken, { force: true });
    }
  });

  test('the agent schedules, lists and cancels jobs with its tools, scoped to the chat', async () => {
    const toolResult = chatRule("body.messages[-1].role == 'tool'", 200, completion('done'));
    await mock.setConfig({
      streaming: FAST,
      rules: [
        ECHO_RULE,
        toolCallRule("contains(body.messages[-1].content, 'remind me')", [{
          id: 'call_schedule', name: 'cron_schedule',
          arguments: { schedule: '0 9 * * 1-5', timezone: 'Europe/Paris', message: 'Remind the user to stand up.', name: 'standup' },
        }]),
        toolCallRule("contains(body.messages[-1].content, 'my reminders')", [{ id: 'call_list', name: 'cron_list', arguments: {} }]),
        toolResult,
      ],
    });
    const scheduled = await app.call('POST', '/api/agent', { message: 'remind me every weekday at 9', session: 'main:webchat:tool-chat' });
    assert.equal(scheduled.json.reply, 'done');
    const [job] = (await app.call('GET', '/api/cron')).json.jobs;
    assert.equal(job.schedule, '0 9 * * 1-5');
    assert.equal(job.timezone, 'Europe/Paris');
    assert.equal(job.channel, 'webchat');
    assert.equal(job.chat_id, 'tool-chat');
    assert.equal(new Date(job.nextRunAt).getUTCMinutes(), 0);

    await app.call('POST', '/api/agent', { message: 'show my reminders', session: 'main:webchat:tool-chat' });
    await app.call('POST', '/api/agent', { message: 'show my reminders', session: 'main:webchat:other-chat' });
    const listed = async (chat: string) => (await sessionMessages(`main:webchat:${chat}`)).find((m: any) => m.role === 'tool' && m.toolName === 'cron_list').content;
    assert.deepEqual(JSON.parse(await listed('tool-chat')).jobs.map((j: any) => j.id), [job.id]);
    assert.deepEqual(JSON.parse(await listed('other-chat')).jobs, []);

    const cancel = (id: string): MockLlmRule[] => [toolCallRule("contains(body.messages[-1].content, 'cancel')", [{ id: 'call_cancel', name: 'cron_cancel', arguments: { job_id: id } }]), toolResult];
    await mock.setConfig({ streaming: FAST, rules: [ECHO_RULE, ...cancel(job.id)] });
    await app.call('POST', '/api/agent', { message: 'cancel it', session: 'main:webchat:other-chat' });
    const refused = (await sessionMessages('main:webchat:other-chat')).filter((m: any) => m.toolName === 'cron_cancel').at(-1);
    assert.equal(refused.isError, true);
    assert.equal((await app.call('GET', '/api/cron')).json.jobs.length, 1, "another chat cannot cancel this chat's job");
    await app.call('POST', '/api/agent', { message: 'cancel it', session: 'main:webchat:tool-chat' });
    assert.deepEqual((await app.call('GET', '/api/cron')).json.jobs, []);
  });
});
