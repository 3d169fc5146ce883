import { randomBytes } from 'node:crypto';
import { apiError } from '../http/errors.js';

/**
 * An agent id or a channel name inside a session key: lowercase letters, digits, `_` and
 * `-`, 1 to 64 characters.
 */
export const SEGMENT_PATTERN = /^[a-z0-9_-]{1,64}$/;

/**
 * A peer (chat) id: what channels call their chats, 1 to 64 of letters of either case,
 * digits and `_ - . @ : +`: Telegram's negative ids (`-1001234`), Slack's `C024BE91L`,
 * e-mail-like `a.b+c@example.com`, `room:42`. Never `/`, `\` or `%`.
 */
export const PEER_PATTERN = /^[A-Za-z0-9_.@:+-]{1,64}$/;

/** For INVALID_REQUEST messages about a chat id. */
export const PEER_RULE = "1-64 characters of letters, digits and _ - . @ : +";

/** The three parts of `{agentId}:{channel}:{peerId}`. */
export interface SessionKeyParts {
  agentId: string;
  channel: string;
  peerId: string;
}

// Not a character of any part, nor of their encoding, so file names split back unambiguously.
const FILE_SEPARATOR = '~';
const FILE_SUFFIX = '.jsonl';
// The usual limit for one file name (ext4, APFS, NTFS), in bytes.
const MAX_FILE_NAME_BYTES = 255;
// What a file name holds as itself; anything else is written `%xx` (lowercase hex).
const PLAIN_CHAR = /[a-z0-9_-]/;
const PLAIN_PART = /^[a-z0-9_-]*$/;
const PLAIN_FILE_NAME = /^([a-z0-9_-]{1,64})~([a-z0-9_-]{1,64})~([a-z0-9_-]{1,64})\.jsonl$/;
const ENCODED_PART = /^(?:[a-z0-9_-]|%[0-9a-f]{2})+$/;

export function isSegment(value: unknown): value is string {
  return typeof value === 'string' && SEGMENT_PATTERN.test(value);
}

export function isPeerId(value: unknown): value is string {
  return typeof value === 'string' && PEER_PATTERN.test(value);
}

/**
 * Splits a key into its parts at its first two colons (a peer id may hold more); null
 * when the agent or channel is not a segment or the peer is not a peer id.
 */
export function parseSessionKey(key: string): SessionKeyParts | null {
  const first = key.indexOf(':');
  const second = first === -1 ? -1 : key.indexOf(':', first + 1);
  if (second === -1) return null;
  const parts = { agentId: key.slice(0, first), channel: key.slice(first + 1, second), peerId: key.slice(second + 1) };
  return isSegment(parts.agentId) && isSegment(parts.channel) && isPeerId(parts.peerId) ? parts : null;
}

export function formatSessionKey(parts: SessionKeyParts): string {
  return `${parts.agentId}:${parts.channel}:${parts.peerId}`;
}

/** Why a key is rejected, for an INVALID_REQUEST message. */
export function describeBadKey(key: string): string {
  const shown = key.length > 80 ? `${key.slice(0, 80)}...` : key;
  return `Invalid session key "${shown}": expected {agentId}:{channel}:{peerId}, agentId and channel 1-64 characters of [a-z0-9_-], peerId ${PEER_RULE}`;
}

/** A fresh peer id for a session created without a chat id. */
export function randomPeerId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The session's file name inside the sessions dir. Each part is written with every
 * character other than `[a-z0-9_-]` as `%xx`: reversible, free of `:` (not allowed on
 * Windows), `/` and `.` runs, and all lowercase, so two keys that differ only in case
 * (`C024BE91L`, `c024be91l`) never share a file on a case-insensitive file system. Keys
 * of those characters only (every key before ids allowed more) keep their file names.
 * INVALID_REQUEST when the name would be too long for a file system.
 */
export function sessionFileName(parts: SessionKeyParts): string {
  const name = [parts.agentId, parts.channel, parts.peerId].map(encodePart).join(FILE_SEPARATOR) + FILE_SUFFIX;
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) {
    throw apiError('INVALID_REQUEST', `Session key "${formatSessionKey(parts)}" is too long to be stored (its file name would pass ${MAX_FILE_NAME_BYTES} bytes); use shorter ids`);
  }
  return name;
}

/** The key parts of a session file name; null for anything else in the dir (temp files, strays, non-canonical names). */
export function parseSessionFileName(name: string): SessionKeyParts | null {
  // Most names need no decoding: one match, as fast as before ids allowed more.
  const plain = PLAIN_FILE_NAME.exec(name);
  if (plain) return { agentId: plain[1]!, channel: plain[2]!, peerId: plain[3]! };
  if (!name.endsWith(FILE_SUFFIX) || name.startsWith('.')) return null;
  const encoded = name.slice(0, -FILE_SUFFIX.length).split(FILE_SEPARATOR);
  if (encoded.length !== 3 || !encoded.every((part) => ENCODED_PART.test(part))) return null;
  const [agentId, channel, peerId] = encoded.map(decodePart) as Array<string | null>;
  if (!isSegment(agentId) || !isSegment(channel) || !isPeerId(peerId)) return null;
  return { agentId, channel, peerId };
}

function encodePart(part: string): string {
  if (PLAIN_PART.test(part)) return part;
  let out = '';
  for (const char of part) out += PLAIN_CHAR.test(char) ? char : `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return out;
}

/** The part a file name spells; null unless it is that part's one encoding (`%2e`, never `%2E` or a needless `%61`). */
function decodePart(part: string): string | null {
  // Listing thousands of sessions parses every name: most need no decoding at all.
  if (!part.includes('%')) return part;
  const decoded = part.replace(/%([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return encodePart(decoded) === part ? decoded : null;
}
