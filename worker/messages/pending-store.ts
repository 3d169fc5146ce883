import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/atomic-write.js';
import { isRunning, processStartTime } from '../../src/proc.js';
import type { MessageRequest } from './message-service.js';

/**
 * Async messages (`POST /api/message`, answered 202 before the agent runs) written down
 * before the answer, so a worker that dies (crash, kill -9, a drain cut short) does not
 * lose them: the worker that owns background services answers what dead workers left.
 * One file per message; `answered` records that the turn is in the session and only the
 * delivery is left, so a replay does not run the turn twice. A kill between the session
 * write and `markAnswered` leaves no `answered`: the replay then finds the turn in the
 * session by its message id (TurnRecord.ref), so the answer itself is the durable fact.
 * A kill after delivery but before `remove` makes the replay deliver the reply again.
 */
export interface PendingMessage {
  messageId: string;
  request: MessageRequest;
  idempotencyKey?: string;
  acceptedAt: string;
  owner: { pid: number; startTime: number | null };
  /** The agent's reply once the turn is stored; set before delivery. */
  answered?: { reply: string };
}

export interface PendingStore {
  /** Durably records an accepted message (fsync'd) before the client is answered. */
  add(message: Omit<PendingMessage, 'owner' | 'acceptedAt'>): void;
  markAnswered(messageId: string, reply: string): void;
  /** The message is delivered (or given up on): forget it. */
  remove(messageId: string): void;
  /** Takes over the messages whose owner process is gone and returns them, oldest first. */
  claimOrphans(): PendingMessage[];
}

export function createPendingStore(dir: string): PendingStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const self = { pid: process.pid, startTime: processStartTime(process.pid) };
  const file = (messageId: string) => join(dir, `${messageId}.json`);
  const write = (message: PendingMessage) => writeFileAtomic(file(message.messageId), JSON.stringify(message));

  function read(name: string): PendingMessage | null {
    try {
      return JSON.parse(readFileSync(join(dir, name), 'utf8')) as PendingMessage;
    } catch {
      return null; // gone meanwhile, or a temp file
    }
  }

  function ownerAlive(owner: PendingMessage['owner']): boolean {
    if (!isRunning(owner.pid)) return false;
    const startTime = processStartTime(owner.pid);
    return owner.startTime == null || startTime == null || startTime === owner.startTime;
  }

  return {
    add(message) {
      write({ ...message, acceptedAt: new Date().toISOString(), owner: self });
    },
    markAnswered(messageId, reply) {
      const current = read(`${messageId}.json`);
      if (current) write({ ...current, answered: { reply } });
    },
    remove(messageId) {
      try {
        unlinkSync(file(messageId));
      } catch {
        /* already gone */
      }
    },
    claimOrphans() {
      const orphans: PendingMessage[] = [];
      for (const name of readdirSync(dir)) {
        if (!name.endsWith('.json')) continue;
        const message = read(name);
        if (!message || ownerAlive(message.owner)) continue;
        const claimed = { ...message, owner: self };
        write(claimed);
        orphans.push(claimed);
      }
      return orphans.sort((a, b) => a.acceptedAt.localeCompare(b.acceptedAt));
    },
  };
}
