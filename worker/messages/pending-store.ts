import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../src/atomic-write.js';
import { isRunning, processStartTime } from '../../src/proc.js';
import type { MessageRequest } from './message-service.js';

/**
 * Accepted messages (async `POST /api/message`, inbound webhook and Telegram webhook
 * messages) written down before the answer, so a worker that dies (crash, kill -9, a
 * drain cut short) does not lose them: the worker that owns background services answers
 * what dead workers left. One file per message; `answered` records that the turn is in
 * the session and only the delivery is left, so a replay does not run the turn twice. A
 * kill between the session write and `markAnswered` leaves no `answered`: the replay then
 * finds the turn in the session by its message id (TurnRecord.ref), so the answer itself
 * is the durable fact. A kill after delivery but before `settle` delivers the reply again.
 *
 * A message ends `delivered` or `failed` (a fault of the message itself); its end is kept
 * in `settled/` for a day so that GET /api/message/:id can tell what became of it.
 */
export interface PendingMessage {
  messageId: string;
  request: MessageRequest;
  idempotencyKey?: string;
  /** Set for a message a channel received (webhook, Telegram): its reply answers it, its failure is told to the chat. */
  inbound?: { sender?: string; externalId?: string };
  acceptedAt: string;
  /** Accept order within the accepting process: ties within one millisecond keep their order. */
  order?: number;
  owner: { pid: number; startTime: number | null };
  /** The agent's reply once the turn is stored; set before delivery. */
  answered?: { reply: string };
  /** Tries that failed for a reason outside the message (disk, provider, receiver), and the last one's error. */
  attempts?: number;
  lastError?: MessageError;
}

export interface MessageError {
  code: string;
  message: string;
  at: string;
}

/** What became of an accepted message, as GET /api/message/:id shows it. */
export interface MessageStatus {
  messageId: string;
  state: 'pending' | 'answered' | 'delivered' | 'failed';
  channel: string;
  chatId: string;
  acceptedAt: string;
  attempts: number;
  lastError?: MessageError;
  settledAt?: string;
}

export interface PendingStore {
  /** Durably records an accepted message (fsync'd) before the client is answered. */
  add(message: Omit<PendingMessage, 'owner' | 'acceptedAt' | 'order'>): PendingMessage;
  /** Messages accepted and not settled, by any worker (dead ones' included): the gateway's backlog. */
  count(): number;
  markAnswered(messageId: string, reply: string): void;
  /** Records a failed try that will be retried (best effort: the disk may be what failed). */
  noteFailure(messageId: string, attempts: number, error: Omit<MessageError, 'at'>): void;
  /** The message is delivered, or failed for good: its end is recorded and it leaves the backlog. */
  settle(messageId: string, outcome: { state: 'delivered' } | { state: 'failed'; error: Omit<MessageError, 'at'> }): void;
  status(messageId: string): MessageStatus | null;
  /** Takes over the messages whose owner process is gone and returns them, oldest first. */
  claimOrphans(): PendingMessage[];
}

/** Settled records are kept this long, the window in which clients ask about their messages. */
export const SETTLED_TTL_MS = 24 * 60 * 60 * 1000;
const SWEEP_EVERY_MS = 60 * 60 * 1000;
const RECORD = /^msg_[0-9a-f]{24}\.json$/;

/** `dir` is `<state>/messages/pending`; settled records go beside it, in `settled/`. */
export function createPendingStore(dir: string, settledDir = join(dirname(dir), 'settled')): PendingStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(settledDir, { recursive: true, mode: 0o700 });
  const self = { pid: process.pid, startTime: processStartTime(process.pid) };
  const file = (messageId: string) => join(dir, `${messageId}.json`);
  const settledFile = (messageId: string) => join(settledDir, `${messageId}.json`);
  const write = (message: PendingMessage) => writeFileAtomic(file(message.messageId), JSON.stringify(message));
  let lastSweep = 0;
  let accepted = 0;

  function readJson<T>(path: string): T | null {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      return null; // gone meanwhile, or a temp file
    }
  }

  function ownerAlive(owner: PendingMessage['owner']): boolean {
    if (!isRunning(owner.pid)) return false;
    const startTime = processStartTime(owner.pid);
    return owner.startTime == null || startTime == null || startTime === owner.startTime;
  }

  function remove(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }

  function sweep(): void {
    if (Date.now() - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = Date.now();
    for (const name of readdirSync(settledDir)) {
      const path = join(settledDir, name);
      const info = statSync(path, { throwIfNoEntry: false });
      if (info && Date.now() - info.mtimeMs > SETTLED_TTL_MS) remove(path);
    }
  }

  return {
    add(message) {
      const record: PendingMessage = { ...message, acceptedAt: new Date().toISOString(), order: accepted++, owner: self };
      write(record);
      return record;
    },
    count() {
      return readdirSync(dir).filter((name) => RECORD.test(name)).length;
    },
    markAnswered(messageId, reply) {
      const current = readJson<PendingMessage>(file(messageId));
      if (current) write({ ...current, answered: { reply } });
    },
    noteFailure(messageId, attempts, error) {
      const current = readJson<PendingMessage>(file(messageId));
      if (!current) return;
      try {
        write({ ...current, attempts, lastError: { ...error, at: new Date().toISOString() } });
      } catch {
        /* the disk is what failed: the retry goes on without the note */
      }
    },
    settle(messageId, outcome) {
      const current = readJson<PendingMessage>(file(messageId));
      if (current) {
        const { answered: _answered, owner: _owner, ...rest } = current;
        const error = outcome.state === 'failed' ? { ...outcome.error, at: new Date().toISOString() } : current.lastError;
        writeFileAtomic(settledFile(messageId), JSON.stringify({ ...rest, state: outcome.state, ...(error ? { lastError: error } : {}), settledAt: new Date().toISOString() }));
      }
      remove(file(messageId));
      try {
        sweep();
      } catch {
        /* next time */
      }
    },
    status(messageId) {
      const pending = readJson<PendingMessage>(file(messageId));
      const settled = pending ? null : readJson<PendingMessage & { state: 'delivered' | 'failed'; settledAt: string }>(settledFile(messageId));
      const record = pending ?? settled;
      if (!record) return null;
      const state = settled ? settled.state : pending!.answered ? 'answered' : 'pending';
      return {
        messageId,
        state,
        channel: record.request.channel,
        chatId: record.request.chatId,
        acceptedAt: record.acceptedAt,
        attempts: record.attempts ?? 0,
        ...(record.lastError ? { lastError: record.lastError } : {}),
        ...(settled ? { settledAt: settled.settledAt } : {}),
      };
    },
    claimOrphans() {
      const orphans: PendingMessage[] = [];
      for (const name of readdirSync(dir)) {
        if (!RECORD.test(name)) continue;
        const message = readJson<PendingMessage>(join(dir, name));
        if (!message || ownerAlive(message.owner)) continue;
        // Killed between recording its end and crossing it off: it is done.
        if (statSync(settledFile(message.messageId), { throwIfNoEntry: false })) {
          remove(join(dir, name));
          continue;
        }
        const claimed = { ...message, owner: self };
        write(claimed);
        orphans.push(claimed);
      }
      return orphans.sort((a, b) => a.acceptedAt.localeCompare(b.acceptedAt) || (a.order ?? 0) - (b.order ?? 0));
    },
  };
}
