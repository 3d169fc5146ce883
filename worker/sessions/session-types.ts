import * as v from 'valibot';

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

const finite = v.pipe(v.number(), v.finite());
const position = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

// Loose objects: fields a newer gateway adds are kept; what a reader relies on is checked.
const storedMessageSchema = v.variant('role', [
  v.looseObject({ role: v.literal('user'), content: v.string(), ts: finite }),
  v.looseObject({
    role: v.literal('assistant'),
    content: v.string(),
    ts: finite,
    toolCalls: v.optional(v.array(v.looseObject({ id: v.string(), name: v.string(), arguments: v.record(v.string(), v.unknown()) }))),
    provider: v.optional(v.string()),
    model: v.optional(v.string()),
    api: v.optional(v.string()),
  }),
  v.looseObject({ role: v.literal('tool'), toolCallId: v.string(), toolName: v.string(), content: v.string(), isError: v.boolean(), ts: finite }),
]);

const recordSchema = v.variant('t', [
  v.looseObject({ t: v.literal('turn'), seq: position, ts: finite, messages: v.array(storedMessageSchema), ref: v.optional(v.string()) }),
  v.looseObject({ t: v.literal('session'), key: v.string(), createdAt: finite }),
]);

/**
 * Parses one line of a session file; null for a torn or foreign line, and for a record
 * that is JSON but not a turn (a message that is not a message, a seq that is not a
 * position): such a record is skipped like a torn line, never shown or sent to a model.
 */
export function parseRecord(line: string): HeaderRecord | TurnRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  const result = v.safeParse(recordSchema, value);
  return result.success ? (result.output as unknown as HeaderRecord | TurnRecord) : null;
}
