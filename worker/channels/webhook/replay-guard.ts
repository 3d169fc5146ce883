import { createHash } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../../src/atomic-write.js';
import type { Logger } from '../../../src/logger.js';
import { apiError } from '../../http/errors.js';
import { createExclusive, errorCode } from '../../sessions/session-file.js';
import { createSweeper } from '../../storage/sweep-expired.js';
import type { WebhookResponse } from '../types.js';

/** The file of one delivery id: claimed while it is handled, then its answer. */
type Record = { state: 'claimed'; pid: number; at: number } | { state: 'done'; response: WebhookResponse; at: number };

export interface ReplayGuard {
  /**
   * Runs `handle` once per delivery id, across workers and restarts: a repeat gets the
   * first answer without running again. An answer of 5xx, or a throw, is not kept (the
   * sender's retry should run), nor is anything left claimed.
   */
  once(id: string, handle: () => Promise<WebhookResponse>): Promise<WebhookResponse>;
}

export interface ReplayGuardOptions {
  /** `<state>/channels/webhook-deliveries` */
  dir: string;
  logger: Logger;
  now?: () => number;
}

/**
 * Senders retry a delivery (same id, fresh timestamp and signature) for up to a day or
 * so; ids are remembered that long.
 */
export const DELIVERY_TTL_MS = 24 * 60 * 60 * 1000;
const SWEEP_EVERY_MS = 60 * 60 * 1000;
// A repeat that finds the id claimed by another worker (two coexist during a restart)
// waits this long for its answer, then is told to retry.
const CLAIM_WAIT_MS = 5000;
const CLAIM_POLL_MS = 50;

/**
 * One small file per id, named by its SHA-256: exclusive creation is the claim (atomic
 * across processes), atomic replace records the answer. A claim whose process is gone
 * (killed mid-request) is taken over.
 */
export function createReplayGuard(options: ReplayGuardOptions): ReplayGuard {
  const { dir, logger } = options;
  const now = options.now ?? Date.now;
  const fileOf = (id: string) => join(dir, `${createHash('sha256').update(id, 'utf8').digest('hex')}.json`);
  const inFlight = new Map<string, Promise<WebhookResponse>>();
  let ready: Promise<unknown> | undefined;
  const sweep = createSweeper({ dir, ttlMs: DELIVERY_TTL_MS, everyMs: SWEEP_EVERY_MS, logger, what: 'expired webhook delivery ids', now });

  async function read(file: string): Promise<Record | null> {
    try {
      const record = JSON.parse(await readFile(file, 'utf8')) as Record;
      return now() - record.at > DELIVERY_TTL_MS ? null : record;
    } catch (err) {
      // Absent, or torn by a crash during the claim (no-hard-link fallback): as good as absent.
      if (errorCode(err) === 'ENOENT' || err instanceof SyntaxError) return null;
      throw err;
    }
  }

  async function claimOrAnswer(id: string): Promise<WebhookResponse | null> {
    await (ready ??= mkdir(dir, { recursive: true, mode: 0o700 }));
    sweep();
    const file = fileOf(id);
    const deadline = now() + CLAIM_WAIT_MS;
    for (;;) {
      if (await createExclusive(file, JSON.stringify({ state: 'claimed', pid: process.pid, at: now() } satisfies Record))) return null;
      const record = await read(file);
      if (record?.state === 'done') return record.response;
      if (record && alive(record.pid) && now() < deadline) {
        await sleep(CLAIM_POLL_MS);
        continue;
      }
      if (record && alive(record.pid)) {
        const error = apiError('BUSY', 'This delivery (webhook-id) is being handled right now; retry shortly');
        error.headers['Retry-After'] = '1';
        throw error;
      }
      // Expired, torn, or claimed by a process that is gone: take its place.
      await unlink(file).catch((err: unknown) => {
        if (errorCode(err) !== 'ENOENT') throw err;
      });
    }
  }

  async function run(id: string, handle: () => Promise<WebhookResponse>): Promise<WebhookResponse> {
    const earlier = await claimOrAnswer(id);
    if (earlier) {
      logger.info({ deliveryId: id.slice(0, 200) }, 'repeated webhook delivery answered with its first result, not run again');
      return earlier;
    }
    const file = fileOf(id);
    let response: WebhookResponse;
    try {
      response = await handle();
    } catch (err) {
      await unlink(file).catch(() => undefined);
      throw err;
    }
    if (response.status >= 500) await unlink(file).catch(() => undefined);
    else writeFileAtomic(file, JSON.stringify({ state: 'done', response, at: now() } satisfies Record), 0o600);
    return response;
  }

  return {
    once(id, handle) {
      // Repeats within this worker wait for the first one rather than poll its file.
      const pending = inFlight.get(id);
      if (pending) return pending;
      const promise = run(id, handle).finally(() => inFlight.delete(id));
      inFlight.set(id, promise);
      return promise;
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}
