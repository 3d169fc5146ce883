import { randomBytes } from 'node:crypto';

/** The id a message gets when the gateway accepts it (`msg_` + 24 hex), for replies and logs. */
export function newMessageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}
