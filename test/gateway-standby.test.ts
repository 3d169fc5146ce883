import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { alive, removeHome, runCli, startGateway, waitUntil, type Gateway, type LockJson } from './helpers/gateway.js';
import { runLoad } from './helpers/load.js';

const TOKEN = 'standby-test-token-0123456789abcdef';
const STANDBY = { gateway: { auth: { token: TOKEN }, worker: { standby: true } } };

/** The worker pid that answers GET /api/status on a connection of its own. */
function answeringPid(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/status', agent: false, headers: { authorization: `Bearer ${TOKEN}`, connection: 'close' }, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(body) as { workerPid: number }).workerPid) : reject(new Error(`status ${res.statusCode}: ${body}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** Waits until the lock names a loaded standby (other than `except`) and returns the lock. */
function waitForStandby(gateway: Gateway, except: number[] = [], timeoutMs = 15_000): Promise<LockJson> {
  return waitUntil(() => {
    const lock = gateway.lock();
    return lock?.standbyPid && !except.includes(lock.standbyPid) && alive(lock.standbyPid) ? lock : null;
  }, timeoutMs, `a standby worker other than ${except.join(', ') || 'none'}\n--- output ---\n${gateway.output()}`);
}

/** Lines the gateway logged from one worker (the log sink tags each with `worker[pid]`). */
function linesOf(gateway: Gateway, pid: number): string[] {
  return gateway.output().split('\n').filter((line) => line.includes(`worker[${pid}]`));
}

async function started(config: Record<string, unknown> = STANDBY, env: NodeJS.ProcessEnv = {}): Promise<Gateway> {
  return startGateway({ config, env });
}

async function dispose(gateway: Gateway): Promise<void> {
  await gateway.stop();
  removeHome(gateway.home);
}

test('kill -9 of the serving worker: the standby serves next, a new standby follows, no connection refused', async () => {
  const gateway = await started();
  try {
    const before = await waitForStandby(gateway);
    const standbyPid = before.standbyPid!;
    let killed = false;
    const load = runLoad({
      port: gateway.port,
      clients: 8,
      keepAlive: false,
      until: (async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        process.kill(before.workerPid!, 'SIGKILL');
        killed = true;
        await gateway.waitForServing({ exceptWorkerPid: before.workerPid! });
        await new Promise((resolve) => setTimeout(resolve, 300));
      })(),
      maxMs: 30_000,
    });
    const result = await load;
    assert.ok(killed);
    assert.equal(result.errors.ECONNREFUSED ?? 0, 0, `refused: ${JSON.stringify(result.errors)}`);
    assert.ok(result.ok > 0);

    const after = gateway.lock()!;
    assert.equal(after.workerPid, standbyPid, 'the lock names the former standby as the serving worker');
    assert.equal(await answeringPid(gateway.port), standbyPid, 'the former standby answers requests');
    assert.match(gateway.output(), /worker crashed: promoting the standby worker/);
    assert.doesNotMatch(gateway.output(), /worker crashed: starting a new one/);

    const next = await waitForStandby(gateway, [standbyPid, before.workerPid!]);
    assert.notEqual(next.standbyPid, next.workerPid);
    // The promoted worker runs the background services now.
    await waitUntil(() => linesOf(gateway, standbyPid).some((line) => /cron scheduler started/.test(line)), 5000, 'the promoted worker to start the background services');
    // A promotion is still a crash for the metrics (and the give-up rule).
    await waitUntil(async () => {
      const text = await (await fetch(gateway.url('/metrics'), { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      return /^xopc_worker_crashes_total 1$/m.test(text) && /^xopc_worker_standby_promotions_total 1$/m.test(text) && /^xopc_worker_standby_waiting 1$/m.test(text);
    }, 15_000, 'the crash, the promotion and the new standby in /metrics');
  } finally {
    await dispose(gateway);
  }
});

test('kill -9 of the serving worker while the standby still loads: the loading standby serves next', async () => {
  const gateway = await started();
  try {
    const { workerPid } = gateway.lock()!;
    const match = await waitUntil(() => /standby worker started workerPid=(\d+)/.exec(gateway.output()), 15_000, 'a standby to start');
    const loadingPid = Number(match[1]);
    process.kill(workerPid!, 'SIGKILL');
    const after = await gateway.waitForServing({ exceptWorkerPid: workerPid! });
    assert.equal(after.workerPid, loadingPid, gateway.output());
    assert.equal(await answeringPid(gateway.port), loadingPid);
    console.log(/promoting the standby worker.*loading=true/.test(gateway.output()) ? 'promoted while loading' : 'the standby had loaded before the kill');
  } finally {
    await dispose(gateway);
  }
});

test('a waiting standby accepts no connection and gets no request', async () => {
  const gateway = await started();
  try {
    const { workerPid, standbyPid } = await waitForStandby(gateway);
    const answered = new Map<number, number>();
    // Each on a new connection: the kernel spreads new connections over every process that accepts.
    for (let i = 0; i < 60; i++) {
      const pid = await answeringPid(gateway.port);
      answered.set(pid, (answered.get(pid) ?? 0) + 1);
    }
    assert.deepEqual([...answered.keys()], [workerPid], `answered by ${JSON.stringify([...answered])}`);
    assert.equal(gateway.lock()!.standbyPid, standbyPid);
    assert.deepEqual(linesOf(gateway, standbyPid!).filter((line) => /Request completed|cron scheduler started|channel.*start/i.test(line)), [], 'no request and no background service in the standby');
    assert.ok(linesOf(gateway, workerPid!).some((line) => /cron scheduler started/.test(line)), 'the serving worker runs the background services');
  } finally {
    await dispose(gateway);
  }
});

test('kill -9 of the standby: a new standby, the serving worker untouched, no failed request', async () => {
  const gateway = await started();
  try {
    const first = await waitForStandby(gateway);
    const killedStandbys: number[] = [];
    const load = runLoad({
      port: gateway.port,
      clients: 4,
      keepAlive: true,
      until: (async () => {
        // Five in a row: as many crashes of the serving worker would make the gateway give up.
        for (let i = 0; i < 5; i++) {
          const { standbyPid } = await waitForStandby(gateway, killedStandbys, 30_000);
          killedStandbys.push(standbyPid!);
          process.kill(standbyPid!, 'SIGKILL');
          await waitUntil(() => (gateway.output().match(/standby worker crashed: starting a new one/g)?.length ?? 0) > i, 10_000, 'the standby crash to be logged');
        }
      })(),
      maxMs: 120_000,
    });
    const result = await load;
    assert.equal(result.failed, 0, JSON.stringify(result.errors));
    const now = gateway.lock()!;
    assert.equal(now.workerPid, first.workerPid, 'the serving worker is the same');
    assert.equal(await answeringPid(gateway.port), first.workerPid);
    assert.equal(gateway.output().match(/standby worker crashed: starting a new one/g)?.length, 5);
    // Its own backoff: 100, 200, 400, 800 ms, then every 30 s; never the serving worker's give-up.
    assert.match(gateway.output(), /retryInMs=30000/);
    assert.doesNotMatch(gateway.output(), /giving up|\]: worker crashed/);
  } finally {
    await dispose(gateway);
  }
});

test('stop ends the serving worker and the standby; kill -9 of the supervisor leaves no standby', async () => {
  const gateway = await started();
  try {
    const { pid, workerPid, standbyPid } = await waitForStandby(gateway);
    const stop = await runCli(gateway.home, ['gateway', 'stop', '--config', gateway.configPath]);
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    for (const each of [pid, workerPid!, standbyPid!]) await waitUntil(() => !alive(each), 5000, `pid ${each} to exit`);
  } finally {
    await dispose(gateway);
  }
  const second = await started();
  try {
    const { workerPid, standbyPid } = await waitForStandby(second);
    process.kill(second.pid, 'SIGKILL');
    await second.exited;
    await waitUntil(() => !alive(standbyPid) && !alive(workerPid), 3000, `worker ${workerPid} and standby ${standbyPid} to exit after the supervisor died`);
  } finally {
    await dispose(second);
  }
});

test('a config change replaces the standby; gateway.worker.standby off ends it', async () => {
  const gateway = await started();
  try {
    const before = await waitForStandby(gateway);
    const config = JSON.parse(readFileSync(gateway.configPath, 'utf8'));
    config.gateway.drainTimeoutMs = 4000;
    writeFileSync(gateway.configPath, JSON.stringify(config));
    const after = await waitForStandby(gateway, [before.standbyPid!], 30_000);
    assert.notEqual(after.workerPid, before.workerPid, 'the change was applied by a new worker');
    assert.notEqual(after.workerPid, before.standbyPid, 'a config change is not served by the standby of the old config');
    await waitUntil(() => !alive(before.standbyPid), 10_000, 'the old standby to exit');

    config.gateway.worker.standby = false;
    writeFileSync(gateway.configPath, JSON.stringify(config));
    await waitUntil(() => !gateway.lock()?.standbyPid && !alive(after.standbyPid), 30_000, `the standby ${after.standbyPid} to end\n${gateway.output()}`);
    await gateway.waitForServing();
  } finally {
    await dispose(gateway);
  }
});

test("a waiting standby's memory is in /metrics while it waits, and gone once none waits", async () => {
  const gateway = await started({ gateway: { auth: { token: TOKEN }, worker: { standby: true, memoryCheckMs: 500 } } });
  const standbyRss = async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const text = await (await fetch(gateway.url('/metrics'), { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const match = /^xopc_process_resident_memory_bytes\{process="standby"\} (\d+)$/m.exec(text);
    return match ? Number(match[1]) : null;
  };
  try {
    const { standbyPid } = await waitForStandby(gateway);
    // The supervisor passes its numbers to the worker every 5 s.
    const reported = await waitUntil(standbyRss, 15_000, 'the standby\'s RSS in /metrics');
    const actual = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${standbyPid}/status`, 'utf8'))![1]) * 1024;
    assert.ok(reported > actual / 2 && reported < actual * 2, `reported ${reported} bytes, /proc says ${actual}`);

    const config = JSON.parse(readFileSync(gateway.configPath, 'utf8'));
    config.gateway.worker.standby = false;
    writeFileSync(gateway.configPath, JSON.stringify(config));
    await waitUntil(() => !gateway.lock()?.standbyPid && !alive(standbyPid), 30_000, `the standby ${standbyPid} to end`);
    await gateway.waitForServing();
    await waitUntil(async () => (await standbyRss()) === null, 15_000, 'the standby series to go once none waits');
  } finally {
    await dispose(gateway);
  }
});

test('in-process SIGUSR1: a fresh worker serves, the standby is replaced', async () => {
  const gateway = await started(STANDBY, { XOPC_ALLOW_SIGUSR1_RESTART: '1', XOPC_NO_RESPAWN: '1' });
  try {
    const before = await waitForStandby(gateway);
    process.kill(gateway.pid, 'SIGUSR1');
    const serving = await gateway.waitForServing({ exceptWorkerPid: before.workerPid! });
    assert.notEqual(serving.workerPid, before.standbyPid);
    const after = await waitForStandby(gateway, [before.standbyPid!]);
    assert.notEqual(after.standbyPid, after.workerPid);
    await waitUntil(() => !alive(before.standbyPid) && !alive(before.workerPid), 10_000, 'the old worker and standby to exit');
  } finally {
    await dispose(gateway);
  }
});

test('the memory guard\'s replacement promotes the standby', async () => {
  // 0.002 h = 7.2 s: the standby is loaded well before the first replacement.
  const gateway = await started({ gateway: { auth: { token: TOKEN }, worker: { standby: true, maxAgeHours: 0.002, memoryCheckMs: 100 } } });
  try {
    const before = await waitForStandby(gateway);
    const after = await gateway.waitForServing({ exceptWorkerPid: before.workerPid!, timeoutMs: 20_000 });
    assert.equal(after.workerPid, before.standbyPid);
    // The lock names the new worker just before the supervisor logs it.
    await waitUntil(() => /restart done: the standby worker serving/.test(gateway.output()), 5000, 'the promotion to be logged');
  } finally {
    await dispose(gateway);
  }
});

test('respawn restart: the new supervisor starts its own standby, the old one\'s goes away', async () => {
  const gateway = await started(STANDBY, { XOPC_ALLOW_SIGUSR1_RESTART: '1' });
  try {
    const before = await waitForStandby(gateway);
    process.kill(before.pid, 'SIGUSR1');
    await gateway.waitForServing({ exceptPid: before.pid, exceptWorkerPid: before.workerPid!, timeoutMs: 20_000 });
    const after = await waitForStandby(gateway, [before.standbyPid!]);
    assert.notEqual(after.pid, before.pid);
    const parent = Number(readFileSync(`/proc/${after.standbyPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    assert.equal(parent, after.pid, 'the standby is the new supervisor\'s child');
    await waitUntil(() => !alive(before.standbyPid) && !alive(before.pid), 15_000, 'the old supervisor and its standby to exit');
  } finally {
    await dispose(gateway);
  }
});
