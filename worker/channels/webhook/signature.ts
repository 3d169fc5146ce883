import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, GitHub style: `X-Xopc-Signature: sha256=<hex>`, the HMAC-SHA256
 * of the exact body bytes (UTF-8) keyed with `channels.webhook.secret`. Inbound calls
 * must carry one; replies POSTed to `replyUrl` carry one made the same way.
 */
export const SIGNATURE_HEADER = 'X-Xopc-Signature';
const PREFIX = 'sha256=';

export function signBody(secret: string, body: string): string {
  return PREFIX + createHmac('sha256', secret).update(Buffer.from(body, 'utf8')).digest('hex');
}

/** Constant-time check of a presented header value against the body's signature. */
export function verifySignature(secret: string, body: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(signBody(secret, body), 'utf8');
  const given = Buffer.from(presented.trim().toLowerCase(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
