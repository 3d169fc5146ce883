/**
 * The channel vocabulary shared by the channels, the message service, cron and the
 * agent's send tool. Nothing here knows about Koa: a webhook arrives as a plain
 * `WebhookRequest` and leaves as a plain `WebhookResponse`.
 */

/** A message a channel received from the outside world (a Telegram user, a webhook caller). */
export interface InboundMessage {
  channel: string;
  /** The chat the reply goes to; also the session's peer id (Telegram: the chat id, negative for groups). */
  chatId: string;
  content: string;
  /** Who wrote it, for logs (username or id); optional. */
  sender?: string;
  /** The channel's own id for the message (Telegram update id, ...), for logs. */
  externalId?: string;
}

/**
 * What a channel calls for every accepted inbound message: runs the agent turn in the
 * chat's session and resolves with the reply, which the channel then delivers itself
 * (it knows whether it still may: see the handover rule). Rejects with AGENT_ERROR.
 */
export type InboundHandler = (message: InboundMessage) => Promise<string>;

/** What a delivery may say about itself beside its text. */
export interface SendOptions {
  /**
   * The message_id of the request this text answers (POST /api/message): channels whose
   * payload can carry it send it as `in_reply_to`, so the receiver can match the reply.
   */
  inReplyTo?: string;
}

/** An HTTP request to `POST /api/webhook/:channel`, reduced to what a channel needs. */
export interface WebhookRequest {
  /** Lowercase header names. */
  headers: Record<string, string | undefined>;
  /** The exact body text, for signatures. */
  rawBody: string;
  /** The parsed JSON body (undefined when there was none). */
  body: unknown;
}

export interface WebhookResponse {
  status: number;
  body: unknown;
}

/**
 * One chat channel. `start`/`stop` bracket background work (Telegram long polling) and
 * are only called by the worker that owns background services (SPEC 3, handover rule);
 * `send` and `handleWebhook` work in every worker.
 */
export interface Channel {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Delivers text to a chat. Throws apiError('CHANNEL_ERROR') when the channel refused
   * or failed delivery after its retries.
   */
  send(chatId: string, text: string, options?: SendOptions): Promise<void>;
  /**
   * Present on channels that accept inbound webhooks; authenticates the request itself
   * and throws apiError('UNAUTHORIZED' | 'INVALID_REQUEST' | 'CHANNEL_NOT_FOUND') to refuse it.
   */
  handleWebhook?(request: WebhookRequest): Promise<WebhookResponse>;
  /** True when replies need no delivery because the chat reads its session (webchat). */
  readonly repliesInSession?: boolean;
  /** Before the worker exits: waits (bounded) for inbound work still running, then stops. */
  close?(): Promise<void>;
}

/** The enabled channels of this worker. */
export interface ChannelRegistry {
  get(name: string): Channel | undefined;
  list(): Channel[];
  /**
   * Delivers text to a chat of a channel. Throws apiError('CHANNEL_NOT_FOUND') for an
   * unknown or disabled channel and apiError('CHANNEL_ERROR') when delivery failed.
   */
  send(channel: string, chatId: string, text: string, options?: SendOptions): Promise<void>;
  /** Starts every channel's background work (owner worker only). */
  start(): Promise<void>;
  /** Stops it again; resolves once no channel polls any more. */
  stop(): Promise<void>;
  /** Before the worker exits: lets inbound work finish (bounded) and stops everything. */
  close(): Promise<void>;
}
