import { statSync } from 'node:fs';
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { join } from 'node:path';
import type { Logger } from '../../src/logger.js';
import { appendLine, createExclusive, errorCode, fsyncDir, readFirstLine, readLinesBackward } from './session-file.js';
import { formatSessionKey, parseSessionFileName, sessionFileName, type SessionKeyParts } from './session-key.js';
import { parseRecord, type HeaderRecord, type SequencedMessage, type SessionInfo, type StoredMessage, type TurnRecord } from './session-types.js';

export interface SessionStoreOptions {
  /** `<state>/sessions` */
  dir: string;
  logger: Logger;
}

export interface ListQuery {
  limit: number;
  offset: number;
  agentId?: string;
  channel?: string;
}

export interface MessagePage {
  info: SessionInfo;
  /** Oldest first. */
  messages: SequencedMessage[];
  /** Older messages exist before the first one returned. */
  hasMore: boolean;
}

/** The latest whole turns of a session, enough for a model's context. */
export interface RecentHistory {
  messages: SequencedMessage[];
  messageCount: number;
}

export interface SessionStore {
  /** Creates the session if it does not exist. */
  ensure(parts: SessionKeyParts): Promise<{ info: SessionInfo; created: boolean }>;
  info(parts: SessionKeyParts): Promise<SessionInfo | null>;
  /** At least `minMessages` of the latest messages (whole turns, so tool calls keep their results); null if there is no such session. */
  readRecent(parts: SessionKeyParts, minMessages: number): Promise<RecentHistory | null>;
  /** Up to `limit` messages before position `before` (default: the end); null if there is no such session. */
  readMessages(parts: SessionKeyParts, page: { limit: number; before?: number }): Promise<MessagePage | null>;
  /** Appends one turn durably; resolves only after the data is on disk. `ref` names the request it answers. */
  appendTurn(parts: SessionKeyParts, seq: number, messages: StoredMessage[], ref?: string): Promise<void>;
  /**
   * The turn that answered request `ref`, looked for from the end back to the first turn
   * older than `since` (epoch ms): a turn is never older than its request, so only the
   * tail written since then is read. Null if none (or no such session).
   */
  findTurn(parts: SessionKeyParts, ref: string, since: number): Promise<TurnRecord | null>;
  /** Most recently updated first. Reads only the listed page's files, and only their ends. */
  list(query: ListQuery): Promise<{ sessions: SessionInfo[]; total: number }>;
  /** False if there was no such session. */
  remove(parts: SessionKeyParts): Promise<boolean>;
}

// Page entries are described with this many files open at once.
const DESCRIBE_CONCURRENCY = 16;
// For thousands of tiny calls, statSync is ~6x faster than fs.promises.stat (no thread-pool
// round trip each); batches of this many keep the event loop free for other requests.
const STAT_BATCH = 500;
// What createExclusive leaves behind if killed between writing its temp file and linking it.
const TEMP_FILE = /^\..+\.tmp$/;
const TEMP_FILE_MAX_AGE_MS = 60_000;

/**
 * The durable session store: one append-only JSON-lines file per session in `dir`
 * (see session-file.ts for the crash rules). It does not order writers; callers
 * serialize work per session (session-queue.ts).
 */
export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const { dir, logger } = options;
  let ready: Promise<void> | undefined;
  const ensureDir = () => (ready ??= prepareDir(dir, logger));
  const pathOf = (parts: SessionKeyParts) => join(dir, sessionFileName(parts));

  async function withFile<T>(parts: SessionKeyParts, use: (handle: FileHandle, size: number, mtimeMs: number) => Promise<T>): Promise<T | null> {
    let handle: FileHandle;
    try {
      handle = await open(pathOf(parts), 'r');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return null;
      throw err;
    }
    try {
      const { size, mtimeMs } = await handle.stat();
      return await use(handle, size, mtimeMs);
    } finally {
      await handle.close();
    }
  }

  /** Reads the header and the last readable turn: all a listing needs. */
  async function describe(parts: SessionKeyParts, handle: FileHandle, size: number, mtimeMs: number): Promise<SessionInfo> {
    const headerLine = await readFirstLine(handle);
    const header = headerLine === null ? null : parseRecord(headerLine);
    let messageCount = 0;
    let lastTs: number | undefined;
    for await (const line of readLinesBackward(handle, size)) {
      const record = parseRecord(line);
      if (record?.t === 'turn') {
        messageCount = record.seq + record.messages.length;
        lastTs = record.ts;
        break;
      }
      if (record?.t === 'session') break;
    }
    const createdAt = header?.t === 'session' ? header.createdAt : (lastTs ?? mtimeMs);
    return { key: formatSessionKey(parts), ...parts, createdAt, updatedAt: Math.max(lastTs ?? createdAt, createdAt), messageCount };
  }

  const store: SessionStore = {
    async ensure(parts) {
      const existing = await store.info(parts);
      if (existing) return { info: existing, created: false };
      await ensureDir();
      const createdAt = Date.now();
      const header: HeaderRecord = { t: 'session', v: 1, key: formatSessionKey(parts), ...parts, createdAt };
      const created = await createExclusive(pathOf(parts), `${JSON.stringify(header)}\n`);
      if (!created) return { info: (await store.info(parts))!, created: false };
      logger.debug({ session: header.key }, 'session created');
      return { info: { key: header.key, ...parts, createdAt, updatedAt: createdAt, messageCount: 0 }, created: true };
    },

    info(parts) {
      return withFile(parts, (handle, size, mtimeMs) => describe(parts, handle, size, mtimeMs));
    },

    readRecent(parts, minMessages) {
      return withFile(parts, async (handle, size) => {
        const turns: TurnRecord[] = [];
        let collected = 0;
        let messageCount = 0;
        for await (const line of readLinesBackward(handle, size)) {
          const record = parseRecord(line);
          if (record?.t === 'session') break;
          if (record?.t !== 'turn') continue;
          if (turns.length === 0) messageCount = record.seq + record.messages.length;
          turns.push(record);
          collected += record.messages.length;
          if (collected >= minMessages) break;
        }
        return { messages: flatten(turns.reverse()), messageCount };
      });
    },

    async readMessages(parts, page) {
      return withFile(parts, async (handle, size, mtimeMs) => {
        const info = await describe(parts, handle, size, mtimeMs);
        const before = page.before ?? Number.POSITIVE_INFINITY;
        const turns: TurnRecord[] = [];
        let collected = 0;
        for await (const line of readLinesBackward(handle, size)) {
          const record = parseRecord(line);
          if (record?.t === 'session') break;
          if (record?.t !== 'turn' || record.seq >= before) continue;
          turns.push(record);
          collected += Math.min(record.messages.length, before - record.seq);
          if (collected >= page.limit) break;
        }
        const messages = flatten(turns.reverse()).filter((message) => message.seq < before).slice(-page.limit);
        return { info, messages, hasMore: messages.length > 0 ? messages[0]!.seq > 0 : false };
      });
    },

    async appendTurn(parts, seq, messages, ref) {
      const record: TurnRecord = { t: 'turn', seq, ts: Date.now(), messages, ...(ref === undefined ? {} : { ref }) };
      const line = `${JSON.stringify(record)}\n`;
      try {
        await appendLine(pathOf(parts), line);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
        // Deleted by another process (a worker draining beside us): the turn starts it anew.
        await store.ensure(parts);
        await appendLine(pathOf(parts), line);
      }
    },

    async findTurn(parts, ref, since) {
      const found = await withFile(parts, async (handle, size) => {
        for await (const line of readLinesBackward(handle, size)) {
          const record = parseRecord(line);
          if (record?.t === 'session') break;
          if (record?.t !== 'turn') continue;
          if (record.ref === ref) return record;
          if (record.ts < since) break;
        }
        return null;
      });
      return found ?? null;
    },

    async list(query) {
      await ensureDir();
      const names = await readdir(dir);
      const candidates: SessionKeyParts[] = [];
      for (const name of names) {
        const parts = parseSessionFileName(name);
        if (!parts) continue;
        if (query.agentId !== undefined && parts.agentId !== query.agentId) continue;
        if (query.channel !== undefined && parts.channel !== query.channel) continue;
        candidates.push(parts);
      }
      // Order by the file's mtime (every append touches it): no file is opened for this.
      const present: Array<{ parts: SessionKeyParts; key: string; mtimeMs: number }> = [];
      for (let start = 0; start < candidates.length; start += STAT_BATCH) {
        for (const parts of candidates.slice(start, start + STAT_BATCH)) {
          // Gone since readdir (deleted meanwhile): not listed.
          const stats = statSync(pathOf(parts), { throwIfNoEntry: false });
          if (stats) present.push({ parts, key: formatSessionKey(parts), mtimeMs: stats.mtimeMs });
        }
        if (start + STAT_BATCH < candidates.length) await yieldToEventLoop();
      }
      present.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const page = present.slice(query.offset, query.offset + query.limit);
      const sessions = await mapLimited(page, DESCRIBE_CONCURRENCY, (entry) => store.info(entry.parts));
      return { sessions: sessions.filter((info): info is SessionInfo => info !== null), total: present.length };
    },

    async remove(parts) {
      try {
        await unlink(pathOf(parts));
      } catch (err) {
        if (errorCode(err) === 'ENOENT') return false;
        throw err;
      }
      await fsyncDir(dir);
      logger.info({ session: formatSessionKey(parts) }, 'session deleted');
      return true;
    },
  };
  return store;
}

/** Creates the dir and removes temp files a crash left mid-create (old enough not to be another worker's). */
async function prepareDir(dir: string, logger: Logger): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = Date.now();
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (!TEMP_FILE.test(name)) continue;
    const stats = statSync(join(dir, name), { throwIfNoEntry: false });
    if (!stats || now - stats.mtimeMs < TEMP_FILE_MAX_AGE_MS) continue;
    await unlink(join(dir, name)).then(() => removed++, () => undefined);
  }
  if (removed > 0) logger.info({ removed }, 'removed temp files left by an interrupted session create');
}

function flatten(turns: TurnRecord[]): SequencedMessage[] {
  const messages: SequencedMessage[] = [];
  for (const turn of turns) {
    turn.messages.forEach((message, index) => messages.push({ ...message, seq: turn.seq + index, ...(turn.ref === undefined ? {} : { ref: turn.ref }) }));
  }
  return messages;
}

async function mapLimited<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}
