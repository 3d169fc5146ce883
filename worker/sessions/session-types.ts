/**
 * What a session file holds. Line 1 is a header; every later line is one whole turn
 * (the user message and everything the agent produced for it), so a turn is written
 * with one append and is either entirely there or not at all.
 */

export interface StoredToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export type StoredMessage =
  | { role: 'user'; content: string; ts: number }
  | {
      role: 'assistant';
      content: string;
      ts: number;
      toolCalls?: StoredToolCall[];
      /** Which provider/model produced it: replaying tool calls across providers needs it. */
      provider?: string;
      model?: string;
      api?: string;
      usage?: { input: number; output: number };
    }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string; isError: boolean; ts: number };

export interface HeaderRecord {
  t: 'session';
  v: 1;
  key: string;
  agentId: string;
  channel: string;
  peerId: string;
  createdAt: number;
}

export interface TurnRecord {
  t: 'turn';
  /** Index of the turn's first message in the session: messageCount after it is seq + messages.length. */
  seq: number;
  ts: number;
  messages: StoredMessage[];
  /**
   * The id of the request the turn answers (an async message's message_id), so the
   * answer and the fact that the message was answered are one durable write.
   */
  ref?: string;
}

/** A message with its position in the session, and the request its turn answers (TurnRecord.ref). */
export type SequencedMessage = StoredMessage & { seq: number; ref?: string };

/** A session as listed (no messages). Times are epoch ms. */
export interface SessionInfo {
  key: string;
  agentId: string;
  channel: string;
  peerId: string;
  createdAt: number;
  updatedAt: number;
  messageCount: number;
}

/** Parses one line of a session file; null for a torn or foreign line. */
export function parseRecord(line: string): HeaderRecord | TurnRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const record = value as { t?: unknown; seq?: unknown; messages?: unknown; key?: unknown };
  if (record.t === 'turn' && Number.isInteger(record.seq) && Array.isArray(record.messages)) return record as unknown as TurnRecord;
  if (record.t === 'session' && typeof record.key === 'string') return record as unknown as HeaderRecord;
  return null;
}
