import * as v from 'valibot';
import { isPeerId, PEER_RULE } from '../../sessions/session-key.js';

/** The inbound body; also documented by the webhook route. */
export const webhookInboundSchema = v.object({
  event: v.literal('message', 'event must be "message"'),
  data: v.object({
    chat_id: v.pipe(
      v.union([v.string(), v.pipe(v.number(), v.integer())], 'data.chat_id must be a string or an integer'),
      v.transform(String),
      v.check((id: string) => isPeerId(id), `data.chat_id must be ${PEER_RULE}`),
    ),
    content: v.pipe(v.string('data.content must be a string'), v.regex(/\S/, 'data.content must not be empty')),
    sender: v.optional(v.pipe(v.string('data.sender must be a string'), v.maxLength(200, 'data.sender must be at most 200 characters'))),
  }, 'data must be an object with chat_id and content'),
}, 'body must be {"event":"message","data":{"chat_id","content","sender?"}}');
