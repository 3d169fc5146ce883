import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { apiError } from '../../http/errors.js';
import { SIGNATURE_HEADER, signBody, verifySignature } from './signature.js';

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix
 * seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
 * several separated by spaces during a key rotation). The signature covers the delivery
 * id and the time, so a captured call cannot be replayed later (the timestamp must be
 * within 5 minutes of ours) nor under a fresh id; a repeat within that time is answered
 * from the replay guard.
 */
export const STANDARD_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;

/** What a verified inbound call is. */
export interface VerifiedDelivery {
  /** The sender's delivery id (Standard Webhooks), the same across its retries; null for the legacy scheme, which has none. */
  id: string | null;
  scheme: 'standard' | 'legacy';
}

export interface WebhookAuth {
  /** Checks an inbound call's signature; throws apiError('UNAUTHORIZED') saying what is expected. */
  verify(headers: Record<string, string | undefined>, rawBody: string): VerifiedDelivery;
  /** The signature headers for an outbound POST of `body` under delivery id `id`, signed now. */
  sign(id: string, body: string): Record<string, string>;
}

export interface WebhookAuthOptions {
  /**
   * `channels.webhook.secret`. In the Standard Webhooks form `whsec_<base64>` the key is
   * the decoded bytes (what sender libraries are given); any other string is used as is
   * (its UTF-8 bytes), as the legacy scheme always did.
   */
  secret: string;
  /** Whether `X-Xopc-Signature` (body only, no id, no time: replayable) is accepted and sent. */
  legacySignature: boolean;
  now?: () => Date;
}

/** Verifies and signs webhooks the Standard Webhooks way, and the legacy way when allowed. */
export function createWebhookAuth(options: WebhookAuthOptions): WebhookAuth {
  const { secret, legacySignature } = options;
  const now = options.now ?? (() => new Date());
  const webhook = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });
  const expected = `${STANDARD_HEADERS.id}, ${STANDARD_HEADERS.timestamp} and ${STANDARD_HEADERS.signature} (Standard Webhooks, keyed with channels.webhook.secret)`;

  return {
    verify(headers, rawBody) {
      const id = headers[STANDARD_HEADERS.id];
      const timestamp = headers[STANDARD_HEADERS.timestamp];
      const signature = headers[STANDARD_HEADERS.signature];
      if (id !== undefined || timestamp !== undefined || signature !== undefined) {
        if (!id || !timestamp || !signature) throw apiError('UNAUTHORIZED', `Incomplete signature: send ${expected}`);
        try {
          webhook.verify(rawBody, { [STANDARD_HEADERS.id]: id, [STANDARD_HEADERS.timestamp]: timestamp, [STANDARD_HEADERS.signature]: signature }, { jsonParse: false });
        } catch (err) {
          if (!(err instanceof WebhookVerificationError)) throw err;
          const stale = /timestamp|Signature Headers/i.test(err.message);
          throw apiError('UNAUTHORIZED', stale ? `${STANDARD_HEADERS.timestamp} is not within 5 minutes of the gateway's clock (or not a Unix time in seconds)` : `Invalid ${STANDARD_HEADERS.signature}`);
        }
        return { id, scheme: 'standard' };
      }
      const legacy = headers[SIGNATURE_HEADER.toLowerCase()];
      if (legacy !== undefined && legacySignature) {
        if (!verifySignature(secret, rawBody, legacy)) throw apiError('UNAUTHORIZED', `Invalid ${SIGNATURE_HEADER}: expected "sha256=<hex HMAC-SHA256 of the raw body keyed with channels.webhook.secret>"`);
        return { id: null, scheme: 'legacy' };
      }
      const hint = legacy !== undefined ? ` (${SIGNATURE_HEADER} is the legacy scheme, off unless channels.webhook.legacySignature is true)` : '';
      throw apiError('UNAUTHORIZED', `Missing signature: send ${expected}${hint}`);
    },

    sign(id, body) {
      const at = now();
      return {
        [STANDARD_HEADERS.id]: id,
        [STANDARD_HEADERS.timestamp]: String(Math.floor(at.getTime() / 1000)),
        [STANDARD_HEADERS.signature]: webhook.sign(id, at, body),
        ...(legacySignature ? { [SIGNATURE_HEADER]: signBody(secret, body) } : {}),
      };
    },
  };
}
