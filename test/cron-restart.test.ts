import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeHome, startGateway, waitUntil, type Gateway } from './helpers/gateway.js';
import { ECHO_RULE, startMockLlm, type MockLlm } from './helpers/mock-llm.js';
import { cronAcrossRestarts, SLOW_STREAMING } from './helpers/cron-restarts.js';
import { prng } from './helpers/prng.js';
import { HISTORY_LIMIT } from '../worker/cron/cron-types.js';

/**
 * Jobs across restarts of the real gateway: SIGUSR1 (in-process and respawn) and
 * stop/start. An every-second job makes any double run or skipped occurrence visible
 * in its history: each run records the occurrence it stands for. A job whose runs take
 * most of its period makes restarts fall in the middle of runs.
 */

const SEED = Number(process.env.XOPC_RACE_SEED ?? Math.floor(Math.random() * 2 ** 31));

const RUN_TIMEOUT_MS = 20_000;

interface Run {
  trigger: string;
  scheduledFor: string | null;
  startedAt: string;
  status: string;
  error?: string;
}

function gatewayConfig(mock: MockLlm): Record<string, unknown> {
  return {
    agents: { default: 'main', defaults: { model: 'mock/test-model', timeoutMs: 5000, maxRetries: 0 }, list: [{ id: 'main' }] },
    providers: { mock: { baseUrl: mock.baseUrl, apiKey: 'mock-key' } },
  };
}

async function call(gateway: Gateway, method: string, path: string, body?: unknown): Promise<any> {
  const send = () => fetch(gateway.url(path), {
    method,
    headers: { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // While the old worker drains it ends idle keep-alive connections; a pooled one picked at
  // that very moment fails with "other side closed". Like any HTTP client, retry a GET once.
  const response = await send().catch((err: Error & { cause?: { code?: string } }) => {
    if (method === 'GET' && err.cause?.code === 'UND_ERR_SOCKET') return send();
    throw err;
  });
  const json = await response.json();
  assert.equal(response.status, 200, JSON.stringify(json));
  return json;
}

interface JobState {
  /** Oldest first. */
  runs: Run[];
  skipped: Array<{ scheduledFor: string }>;
}

/** Waits until the job has `count` recorded runs that started after `since`. */
async function waitForRunsAfter(gateway: Gateway, id: string, since: number, count: number): Promise<JobState> {
  return waitUntil(async () => {
    const { job } = await call(gateway, 'GET', `/api/cron/${id}`);
    const runs = [...(job.runs as Run[])].reverse();
    return runs.filter((run) => Date.parse(run.startedAt) > since).length >= count ? { runs, skipped: job.skipped } : null;
  }, RUN_TIMEOUT_MS, `${count} runs of ${id} after ${new Date(since).toISOString()}`);
}

/**
 * Every occurrence from the first to the last dealt with exactly once: run (successfully)
 * or skipped because the previous run was still going (a cold first agent call can take a second).
 */
function assertEveryOccurrenceOnce({ runs, skipped }: JobState): void {
  const failed = runs.filter((run) => run.status !== 'ok');
  assert.deepEqual(failed, [], 'every run succeeded');
  const scheduled = runs.filter((run) => run.trigger !== 'manual').map((run) => run.scheduledFor!);
  // A job keeps its last HISTORY_LIMIT runs and skips: once a list is full (a slow machine
  // makes the test wait through more occurrences), only the time both lists still cover counts.
  const seconds = (isos: string[]) => isos.map((iso) => Date.parse(iso) / 1000);
  const floor = Math.max(...[runs.length >= HISTORY_LIMIT ? seconds(runs.map((run) => run.scheduledFor ?? run.startedAt)) : [], skipped.length >= HISTORY_LIMIT ? seconds(skipped.map((skip) => skip.scheduledFor)) : []].map((list) => (list.length ? Math.min(...list) : -Infinity)));
  const all = seconds([...scheduled, ...skipped.map((skip) => skip.scheduledFor)]).filter((second) => second >= floor).sort((a, b) => a - b);
  const shown = all.map((second) => new Date(second * 1000).toISOString().slice(11, 19)).join(' ');
  assert.equal(new Set(all).size, all.length, `no occurrence dealt with twice: ${shown}`);
  assert.equal(all.at(-1)! - all[0]!, all.length - 1, `no occurrence missed: ${shown}`);
}

describe('cron jobs across gateway restarts', () => {
  let mock: MockLlm;
  before(async () => {
    mock = await startMockLlm({ streaming: { chunkSize: 50, chunkIntervalMs: 1 }, rules: [ECHO_RULE] });
  });
  after(async () => {
    await mock?.stop();
  });

  for (const mode of ['in-process', 'respawn'] as const) {
    test(`a SIGUSR1 restart (${mode}) neither runs an occurrence twice nor skips one`, { timeout: 90_000 }, async () => {
      const env: NodeJS.ProcessEnv = { XOPC_ALLOW_SIGUSR1_RESTART: '1', ...(mode === 'in-process' ? { XOPC_NO_RESPAWN: '1' } : {}) };
      const gateway = await startGateway({ config: gatewayConfig(mock), env });
      try {
        const { job } = await call(gateway, 'POST', '/api/cron/create', { schedule: '* * * * * *', message: `every second (${mode})` });
        await waitForRunsAfter(gateway, job.id, 0, 2);

        for (let restart = 0; restart < 2; restart++) {
          const serving = gateway.lock()!;
          process.kill(serving.pid, 'SIGUSR1');
          await gateway.waitForServing({ exceptWorkerPid: serving.workerPid!, ...(mode === 'respawn' ? { exceptPid: serving.pid } : {}), timeoutMs: 20_000 });
          await waitForRunsAfter(gateway, job.id, Date.now(), 2);
        }
        assertEveryOccurrenceOnce(await waitForRunsAfter(gateway, job.id, 0, 6));
        if (mode === 'in-process') assert.equal(gateway.lock()!.pid, gateway.pid);
        else assert.notEqual(gateway.lock()!.pid, gateway.pid);
      } finally {
        await gateway.stop();
        removeHome(gateway.home);
      }
    });
  }

  for (const mode of ['in-process', 'respawn'] as const) {
    test(`runs that straddle SIGUSR1 restarts (${mode}): no occurrence lost or doubled, each run delivered once and recorded as delivered (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
      const slow = await startMockLlm({ streaming: SLOW_STREAMING, rules: [ECHO_RULE] });
      try {
        const counts = await cronAcrossRestarts({ mock: slow, mode, restarts: 5, random: prng(SEED) });
        t.diagnostic(JSON.stringify(counts));
        assert.ok(counts.straddling > 0, 'at least one restart fell during a run');
        // Whether a job keeps up with its period is a matter of speed (BENCHMARKS.md); what a
        // restart must never do is lose one: every occurrence not run is listed as covered.
        assert.equal(counts.lost, 0, `no occurrence lost: ${counts.timeline}`);
        assert.equal(counts.doubled, 0, `no occurrence run twice: ${counts.timeline}`);
        assert.equal(counts.failed, 0, 'no run failed or was recorded as interrupted');
        assert.equal(counts.turns, counts.ran, 'one stored turn per recorded run: no unrecorded run');
        assert.equal(counts.delivered, counts.ran, 'each run delivered once');
      } finally {
        await slow.stop();
      }
    });
  }

  test('a run still going at the drain bound of a restart is handed over and finished once by the new worker', { timeout: 90_000 }, async () => {
    // 400 characters at 20 ms each: a run of 8 s or more, against a drain bound of 1 s;
    // the model call's own limit is far above it.
    const slow = await startMockLlm({ streaming: SLOW_STREAMING, rules: [ECHO_RULE] });
    const message = 'x'.repeat(400);
    const base = gatewayConfig(slow) as { agents: { defaults: Record<string, unknown> } };
    const config = { ...base, agents: { ...base.agents, defaults: { ...base.agents.defaults, timeoutMs: 60_000 } }, gateway: { drainTimeoutMs: 1000 } };
    const gateway = await startGateway({ config, env: { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' } });
    try {
      const { job } = await call(gateway, 'POST', '/api/cron/create', { schedule: '0 0 1 1 *', timezone: 'UTC', message, channel: 'webchat', chat_id: 'handed-over' });
      await call(gateway, 'POST', '/api/cron/trigger', { job_id: job.id });
      const serving = gateway.lock()!;
      process.kill(serving.pid, 'SIGUSR1');
      await gateway.waitForServing({ exceptWorkerPid: serving.workerPid!, timeoutMs: 20_000 });
      const finished = await waitUntil(async () => {
        const current = (await call(gateway, 'GET', `/api/cron/${job.id}`)).job;
        return current.runs.length > 0 && !current.running ? current : null;
      }, 60_000, 'the handed-over run to finish');
      assert.equal(finished.runs.length, 1, JSON.stringify(finished.runs));
      assert.equal(finished.runs[0].status, 'ok', JSON.stringify(finished.runs[0]));
      assert.equal(finished.runs[0].resumed, true, 'finished by the new worker');
      assert.equal(finished.runs[0].deliveredTo, 'webchat:handed-over');
      const log = readFileSync(join(gateway.home, 'logs', 'gateway.log'), 'utf8');
      assert.match(log, /cron run left for the next worker to finish/);
      const turns = (await call(gateway, 'GET', `/api/sessions/main:cron:${job.id}`)).session.messages.filter((m: any) => m.role === 'user');
      assert.equal(turns.length, 1, 'the agent answered the run once (the cut call stored nothing)');
      const delivered = (await call(gateway, 'GET', '/api/sessions/main:webchat:handed-over')).session.messages.filter((m: any) => m.role === 'assistant');
      assert.equal(delivered.length, 1, 'delivered once');
    } finally {
      await gateway.stop();
      await slow.stop();
      removeHome(gateway.home);
    }
  });

  test('jobs survive a stop and start; the occurrences missed while stopped get one catch-up run', { timeout: 90_000 }, async () => {
    const first = await startGateway({ config: gatewayConfig(mock) });
    let second: Gateway | undefined;
    try {
      const { job } = await call(first, 'POST', '/api/cron/create', { name: 'survivor', schedule: '* * * * * *', message: 'still here' });
      const daily = (await call(first, 'POST', '/api/cron/create', { schedule: '0 3 * * *', message: 'nightly', timezone: 'UTC' })).job;
      await waitForRunsAfter(first, job.id, 0, 2);
      await first.stop();
      const stoppedAt = Date.now();
      const stored = readStoredJob(first.home, job.id);
      const runsBefore = stored.runs.length;
      // Make sure at least one occurrence falls while nothing runs (a start can take less than a second).
      await sleep(Math.max(0, Date.parse(stored.handledThrough) + 1200 - Date.now()));

      second = await startGateway({ home: first.home, config: gatewayConfig(mock) });
      const { jobs } = await call(second, 'GET', '/api/cron');
      assert.deepEqual(jobs.map((j: any) => j.id).sort(), [job.id, daily.id].sort(), 'both jobs were reloaded');

      const { runs, skipped } = await waitForRunsAfter(second, job.id, stoppedAt, 2);
      const afterStart = runs.slice(runsBefore);
      assert.equal(afterStart[0]!.trigger, 'catch-up', 'the first run after the start catches up');
      assert.ok(Date.parse(afterStart[0]!.scheduledFor!) > stoppedAt, 'for an occurrence missed while stopped');
      assert.deepEqual(afterStart.slice(1).map((run) => run.trigger), afterStart.slice(1).map(() => 'schedule'), 'exactly one catch-up');
      const occurrences = [...runs.map((run) => run.scheduledFor), ...skipped.map((skip) => skip.scheduledFor)];
      assert.equal(new Set(occurrences).size, occurrences.length, 'no occurrence ran twice');
      assert.ok(runs.every((run) => run.status === 'ok'), JSON.stringify(runs));
      assert.equal((await call(second, 'GET', `/api/cron/${daily.id}`)).job.runs.length, 0, 'a job that missed nothing does not run');
    } finally {
      await first.stop();
      await second?.stop();
      removeHome(first.home);
    }
  });
});

/** The job as stored on disk (for a stopped gateway). */
function readStoredJob(home: string, id: string): { runs: Run[]; handledThrough: string } {
  return JSON.parse(readFileSync(join(home, 'cron', `${id}.json`), 'utf8'));
}
