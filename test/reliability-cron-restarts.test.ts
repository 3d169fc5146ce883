import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cronAcrossRestarts, SLOW_STREAMING } from './helpers/cron-restarts.js';
import { ECHO_RULE, startMockLlm } from './helpers/mock-llm.js';
import { prng } from './helpers/prng.js';

/**
 * Long mode only (test/cron-restart.test.ts runs the same scenario with 5 restarts in
 * every `npm test`): a `*\/2 * * * * *` job whose runs straddle 20 SIGUSR1 restarts of
 * each kind. Every occurrence from the first run to the last runs once: none skipped,
 * none doubled, none recorded as failed or interrupted, each delivered once.
 * XOPC_RESTARTS=<n> changes the count; XOPC_RACE_SEED=<n> replays the restart timing.
 */

const LONG = process.env.XOPC_RELIABILITY === 'long';
const RESTARTS = Number(process.env.XOPC_RESTARTS ?? 20);
const SEED = Number(process.env.XOPC_RACE_SEED ?? Math.floor(Math.random() * 2 ** 31));

for (const mode of ['in-process', 'respawn'] as const) {
  test(`cron runs straddling ${RESTARTS} SIGUSR1 restarts (${mode}, seed ${SEED})`, { skip: !LONG && 'long mode only (XOPC_RELIABILITY=long); test/cron-restart.test.ts runs 5 restarts', timeout: RESTARTS * 30_000 + 120_000 }, async (t) => {
    const slow = await startMockLlm({ streaming: SLOW_STREAMING, rules: [ECHO_RULE] });
    try {
      const counts = await cronAcrossRestarts({ mock: slow, mode, restarts: RESTARTS, random: prng(SEED) });
      t.diagnostic(`counts: ${JSON.stringify(counts)}`);
      assert.ok(counts.straddling > 0, 'restarts fell during runs');
      assert.equal(counts.skipped, 0, `no occurrence skipped: ${counts.timeline}`);
      assert.equal(counts.doubled, 0, `no occurrence run twice: ${counts.timeline}`);
      assert.equal(counts.failed, 0, 'no run failed or was recorded as interrupted');
      assert.equal(counts.turns, counts.ran, 'one stored turn per recorded run');
      assert.equal(counts.delivered, counts.ran, 'each run delivered once');
    } finally {
      await slow.stop();
    }
  });
}
