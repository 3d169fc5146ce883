import { PassThrough } from 'node:stream';
import type Koa from 'koa';

/**
 * Answers the request with a server-sent event stream at once and returns the stream to write
 * events into. No caching or transforms on the way, no proxy buffering (nginx), no Nagle
 * delay: each event reaches the client as it is written.
 */
export function openEventStream(ctx: Koa.Context): PassThrough {
  const stream = new PassThrough();
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.set('Cache-Control', 'no-cache, no-transform');
  ctx.set('X-Accel-Buffering', 'no');
  ctx.body = stream;
  ctx.req.socket.setNoDelay(true);
  return stream;
}
