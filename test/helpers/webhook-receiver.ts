import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One reply the gateway POSTed to `replyUrl`. */
export interface WebhookReply {
  delivery: string;
  inReplyTo: string;
  chatId: string;
  content: string;
}

/** The operator's endpoint behind `channels.webhook.replyUrl`: records every reply POST, answers 204. */
export async function startReplyReceiver() {
  const replies: WebhookReply[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const body = JSON.parse(raw) as { data: { in_reply_to: string; chat_id: string; content: string } };
      replies.push({ delivery: String(req.headers['x-xopc-delivery']), inReplyTo: body.data.in_reply_to, chatId: body.data.chat_id, content: body.data.content });
      res.statusCode = 204;
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    replies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The legacy `X-Xopc-Signature` header of a raw body (gateways with `channels.webhook.legacySignature: true`). */
export function legacySignature(secret: string, raw: string): Record<string, string> {
  return { 'x-xopc-signature': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}` };
}
