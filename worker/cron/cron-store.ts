import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../src/atomic-write.js';
import type { Logger } from '../../src/logger.js';
import { isSegment } from '../sessions/session-key.js';
import { claimOccurrence, removeClaims, withJobLock } from './cron-claims.js';
import type { CronJob } from './cron-types.js';

/**
 * Jobs on disk: one JSON file per job in `<state>/cron/`, replaced atomically on every
 * change. Every call reads the disk, nothing is cached: during a restart two workers
 * serve the API and the one that owns the timers must see what the other wrote.
 * The calls are synchronous, so a read-modify-write never interleaves with another one
 * of this process; against other processes each one holds the job's lock (cron-claims.ts).
 */
export interface CronStore {
  readonly dir: string;
  /** Oldest first. Files that cannot be read are skipped (and logged once). */
  list(): CronJob[];
  get(id: string): CronJob | null;
  /** Writes a new job; throws if the id is taken. */
  create(job: CronJob): void;
  /**
   * Reads the job, hands it to `change`, writes what `change` returns (nothing when it
   * returns null). Returns the job as stored afterwards; null when there is no such job.
   */
  update(id: string, change: (job: CronJob) => CronJob | null): CronJob | null;
  /** False when there was no such job. */
  remove(id: string): boolean;
  /** Claims one occurrence of a job for this process (O_EXCL); false when another process (or an earlier call) has it. */
  claim(id: string, occurrence: Date, runId: string): boolean;
}

const SUFFIX = '.json';
// What writeFileAtomic leaves behind if the process dies between writing and renaming.
const TEMP_FILE = /^\..+\.tmp$/;
const TEMP_FILE_MAX_AGE_MS = 60_000;

export function createCronStore(options: { dir: string; logger: Logger }): CronStore {
  const { dir, logger } = options;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  sweepTempFiles(dir, logger);
  // Unreadable files are reported once per content change, not at every scan.
  const reported = new Map<string, number>();

  const fileOf = (id: string) => join(dir, `${id}${SUFFIX}`);

  function read(id: string): CronJob | null {
    if (!isSegment(id)) return null;
    const file = fileOf(id);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const job = parseJob(text, id);
    if (!job) {
      const mtime = safeMtime(file);
      if (reported.get(id) !== mtime) {
        reported.set(id, mtime);
        logger.warn({ file }, 'cron job file is not a valid job: skipped until it is fixed or deleted');
      }
    }
    return job;
  }

  function write(job: CronJob): void {
    writeFileAtomic(fileOf(job.id), JSON.stringify(job, null, 2) + '\n', 0o600);
  }

  return {
    dir,
    list() {
      const jobs: CronJob[] = [];
      for (const name of readdirSync(dir)) {
        if (!name.endsWith(SUFFIX) || name.startsWith('.')) continue;
        const job = read(name.slice(0, -SUFFIX.length));
        if (job) jobs.push(job);
      }
      return jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },
    get: read,
    create(job) {
      // Ids are 48 random bits; the check guards against a caller reusing one, not against a race.
      if (existsSync(fileOf(job.id))) throw new Error(`cron job ${job.id} already exists`);
      write(job);
    },
    update(id, change) {
      if (!isSegment(id)) return null;
      return withJobLock(dir, id, () => {
        const current = read(id);
        if (!current) return null;
        const next = change(structuredClone(current));
        if (!next) return current;
        write(next);
        return next;
      });
    },
    remove(id) {
      if (!isSegment(id)) return false;
      return withJobLock(dir, id, () => {
        try {
          unlinkSync(fileOf(id));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
          throw err;
        }
        fsyncDir(dir);
        removeClaims(dir, id);
        return true;
      });
    },
    claim: (id, occurrence, runId) => claimOccurrence(dir, id, occurrence, runId),
  };
}

/** The job in a file's text, or null when it is not one (wrong JSON, missing fields, another id). */
function parseJob(text: string, id: string): CronJob | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const job = value as CronJob;
  const valid = job.id === id
    && typeof job.message === 'string'
    && typeof job.timezone === 'string'
    && typeof job.agentId === 'string'
    && typeof job.enabled === 'boolean'
    && typeof job.createdAt === 'string'
    && typeof job.handledThrough === 'string'
    && (typeof job.schedule === 'string') !== (typeof job.at === 'string')
    && Array.isArray(job.runs);
  return valid ? { ...job, running: job.running ?? null, channel: job.channel ?? null, chatId: job.chatId ?? null, skipped: Array.isArray(job.skipped) ? job.skipped : [] } : null;
}

function safeMtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function sweepTempFiles(dir: string, logger: Logger): void {
  for (const name of readdirSync(dir)) {
    if (!TEMP_FILE.test(name)) continue;
    const file = join(dir, name);
    try {
      if (Date.now() - statSync(file).mtimeMs > TEMP_FILE_MAX_AGE_MS) {
        unlinkSync(file);
        logger.info({ file }, 'removed a temp file left by an interrupted cron write');
      }
    } catch {
      /* gone already */
    }
  }
}
