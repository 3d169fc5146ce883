import { createHash } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/atomic-write.js';
import type { Logger } from '../../src/logger.js';
import { createExclusive, errorCode } from '../sessions/session-file.js';
import { createSweeper } from '../storage/sweep-expired.js';

/** What a request with an Idempotency-Key left behind, for its retries. */
export interface IdempotencyRecord {
  /** Hash of what the request asked for: a key reused for something else is refused. */
  fingerprint: string;
  messageId: string;
  status: 'accepted' | 'done' | 'failed';
  /** Sync requests: the agent's reply, and whether it reached the chat. */
  reply?: string;
  delivered?: boolean;
  createdAt: number;
  updatedAt: number;
}

export type ClaimResult = { claimed: true } | { claimed: false; record: IdempotencyRecord };

export interface IdempotencyStore {
  /**
   * Claims `key` for a new request, atomically across processes (two workers coexist
   * during a restart): the first caller gets `claimed: true`, later ones the record.
   */
  claim(key: string, record: Pick<IdempotencyRecord, 'fingerprint' | 'messageId'>): Promise<ClaimResult>;
  read(key: string): Promise<IdempotencyRecord | null>;
  update(key: string, patch: Partial<Pick<IdempotencyRecord, 'status' | 'reply' | 'delivered'>>): Promise<void>;
  /** Forgets a key, so that a retry is processed anew (a request that produced nothing). */
  release(key: string): Promise<void>;
}

export interface IdempotencyStoreOptions {
  /** `<state>/messages/idempotency` */
  dir: string;
  /** How long a key is remembered. */
  ttlMs: number;
  logger: Logger;
  now?: () => number;
}

/** Keys are remembered for a day, the usual window for client retries. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/**
 * One small file per key, named by the key's SHA-256 (the key itself is never stored):
 * exclusive creation is the atomic claim, atomic replace the update. Expired files are
 * swept now and then while claims come in.
 */
export function createIdempotencyStore(options: IdempotencyStoreOptions): IdempotencyStore {
  const { dir, ttlMs, logger } = options;
  const now = options.now ?? Date.now;
  const fileOf = (key: string) => join(dir, `${createHash('sha256').update(key, 'utf8').digest('hex')}.json`);
  let ready: Promise<unknown> | undefined;
  const sweep = createSweeper({ dir, ttlMs, everyMs: SWEEP_EVERY_MS, logger, what: 'expired idempotency keys', now });

  async function read(key: string): Promise<IdempotencyRecord | null> {
    let text: string;
    try {
      text = await readFile(fileOf(key), 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return null;
      throw err;
    }
    try {
      const record = JSON.parse(text) as IdempotencyRecord;
      return now() - record.createdAt > ttlMs ? null : record;
    } catch {
      // Torn by a crash during the claim (the no-hard-link fallback): as good as absent.
      return null;
    }
  }

  return {
    async claim(key, fresh) {
      await (ready ??= mkdir(dir, { recursive: true, mode: 0o700 }));
      sweep();
      const file = fileOf(key);
      for (let tries = 0; tries < 3; tries++) {
        const record: IdempotencyRecord = { ...fresh, status: 'accepted', createdAt: now(), updatedAt: now() };
        if (await createExclusive(file, JSON.stringify(record))) return { claimed: true };
        const existing = await read(key);
        if (existing) return { claimed: false, record: existing };
        // Expired or torn: take its place.
        await unlink(file).catch((err: unknown) => {
          if (errorCode(err) !== 'ENOENT') throw err;
        });
      }
      throw new Error('could not claim an idempotency key: it keeps changing under us');
    },

    read,

    async update(key, patch) {
      const record = await read(key);
      if (!record) return;
      writeFileAtomic(fileOf(key), JSON.stringify({ ...record, ...patch, updatedAt: now() }), 0o600);
    },

    async release(key) {
      await unlink(fileOf(key)).catch((err: unknown) => {
        if (errorCode(err) !== 'ENOENT') throw err;
      });
    },
  };
}
