import { randomBytes } from 'node:crypto';

/**
 * One segment of a session key: lowercase letters, digits, `_` and `-`, 1 to 64
 * characters. `-` also covers Telegram's negative chat ids (`-1001234`).
 */
export const SEGMENT_PATTERN = /^[a-z0-9_-]{1,64}$/;

/** The three parts of `{agentId}:{channel}:{peerId}`. */
export interface SessionKeyParts {
  agentId: string;
  channel: string;
  peerId: string;
}

// Not a segment character, so file names split back into keys unambiguously.
const FILE_SEPARATOR = '~';
const FILE_SUFFIX = '.jsonl';

export function isSegment(value: unknown): value is string {
  return typeof value === 'string' && SEGMENT_PATTERN.test(value);
}

/** Splits a key into its parts; null when it is not three valid segments. */
export function parseSessionKey(key: string): SessionKeyParts | null {
  const parts = key.split(':');
  if (parts.length !== 3 || !parts.every(isSegment)) return null;
  const [agentId, channel, peerId] = parts as [string, string, string];
  return { agentId, channel, peerId };
}

export function formatSessionKey(parts: SessionKeyParts): string {
  return `${parts.agentId}:${parts.channel}:${parts.peerId}`;
}

/** Why a key is rejected, for an INVALID_REQUEST message. */
export function describeBadKey(key: string): string {
  const shown = key.length > 80 ? `${key.slice(0, 80)}...` : key;
  return `Invalid session key "${shown}": expected {agentId}:{channel}:{peerId}, each 1-64 characters of [a-z0-9_-]`;
}

/** A fresh peer id for a session created without a chat id. */
export function randomPeerId(): string {
  return randomBytes(8).toString('hex');
}

/** The session's file name inside the sessions dir (`:` is not allowed in Windows file names). */
export function sessionFileName(parts: SessionKeyParts): string {
  return `${parts.agentId}${FILE_SEPARATOR}${parts.channel}${FILE_SEPARATOR}${parts.peerId}${FILE_SUFFIX}`;
}

/** The key parts of a session file name; null for anything else in the dir (temp files, strays). */
export function parseSessionFileName(name: string): SessionKeyParts | null {
  if (!name.endsWith(FILE_SUFFIX) || name.startsWith('.')) return null;
  const parts = name.slice(0, -FILE_SUFFIX.length).split(FILE_SEPARATOR);
  if (parts.length !== 3 || !parts.every(isSegment)) return null;
  const [agentId, channel, peerId] = parts as [string, string, string];
  return { agentId, channel, peerId };
}
