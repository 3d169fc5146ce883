import { html, nothing, type PropertyValues } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import type { ApiClient } from './api.js';
import { describeError, formatTime, XopcElement } from './element.js';
import { markdownHtml, markdownReady } from './markdown-lazy.js';
import type { GatewayStatus, SessionMessage, SessionSummary } from './types.js';

const AGENT_KEY = 'xopc.chat.agent';
const SESSION_KEY = 'xopc.chat.session';
const DRAFT_KEY = 'xopc.chat.draft';
const HISTORY_LIMIT = 200;

interface ChatItem {
  role: 'user' | 'assistant' | 'error' | 'note';
  text: string;
  streaming?: boolean;
}

/**
 * The chat: pick an agent, start or reopen a conversation (a `webchat` session), send
 * with Enter (Shift+Enter for a new line), read the reply as it streams in, stop it.
 * The draft survives a reload or a gateway restart.
 */
export class XopcChatView extends XopcElement {
  static override properties = {
    api: { attribute: false },
    status: { attribute: false },
    agentId: { state: true },
    sessionKey: { state: true },
    items: { state: true },
    conversations: { state: true },
    sending: { state: true },
  };

  api!: ApiClient;
  status: GatewayStatus | null = null;
  agentId = '';
  sessionKey = '';
  items: ChatItem[] = [];
  conversations: SessionSummary[] = [];
  sending = false;
  private abort: AbortController | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    void markdownReady.then(() => this.requestUpdate());
    const agents = this.enabledAgents();
    const saved = localStorage.getItem(AGENT_KEY);
    this.agentId = (agents.length === 0 ? saved : agents.find((agent) => agent === saved)) ?? this.status?.agents.find((agent) => agent.default)?.id ?? agents[0] ?? 'main';
    const session = localStorage.getItem(SESSION_KEY);
    if (session?.startsWith(`${this.agentId}:webchat:`)) void this.open(session);
    else this.newConversation();
    // The list is a convenience: asked for after the first render, which it must not delay.
    setTimeout(() => void this.loadConversations());
  }

  override disconnectedCallback(): void {
    this.abort?.abort();
    super.disconnectedCallback();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    // The status (and so the list of agents) may arrive after the chat is shown.
    const agents = this.enabledAgents();
    if (changed.has('status') && agents.length > 0 && !agents.includes(this.agentId)) {
      this.agentId = this.status?.agents.find((agent) => agent.default)?.id ?? agents[0]!;
      this.newConversation();
      void this.loadConversations();
    }
  }

  protected override updated(changed: PropertyValues<this>): void {
    // Scrolling lays the page out at once: not for the first, empty, render.
    if (changed.has('items') && this.items.length > 0) this.querySelector('.messages')?.scrollTo({ top: 1e9 });
  }

  private enabledAgents(): string[] {
    return (this.status?.agents ?? []).filter((agent) => agent.enabled).map((agent) => agent.id);
  }

  private async loadConversations(): Promise<void> {
    try {
      const { sessions } = await this.api.get<{ sessions: SessionSummary[] }>(`/api/sessions?channel=webchat&agentId=${encodeURIComponent(this.agentId)}&limit=50`);
      this.conversations = sessions;
    } catch {
      /* the list is a convenience; the chat works without it */
    }
  }

  private newConversation(): void {
    const id = `web-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    this.sessionKey = `${this.agentId}:webchat:${id}`;
    localStorage.setItem(SESSION_KEY, this.sessionKey);
    this.items = [];
  }

  private async open(key: string): Promise<void> {
    this.sessionKey = key;
    localStorage.setItem(SESSION_KEY, key);
    const shown = this.items;
    try {
      const { session } = await this.api.get<{ session: { messages: SessionMessage[] } }>(`/api/sessions/${encodeURIComponent(key)}?limit=${HISTORY_LIMIT}`);
      // A message sent (or another conversation opened) while this loaded is not replaced by an older view.
      if (this.sessionKey !== key || this.items !== shown) return;
      this.items = session.messages
        .filter((message) => message.role !== 'tool' && message.content)
        .map((message) => ({ role: message.role as 'user' | 'assistant', text: message.content }));
    } catch (err) {
      if (this.sessionKey !== key || this.items !== shown) return;
      // A new conversation has no session yet: nothing to show.
      this.items = (err as { code?: string }).code === 'SESSION_NOT_FOUND' ? [] : [{ role: 'error', text: describeError(err) }];
    }
  }

  private changeAgent(event: Event): void {
    this.agentId = (event.target as HTMLSelectElement).value;
    localStorage.setItem(AGENT_KEY, this.agentId);
    this.newConversation();
    void this.loadConversations();
  }

  private onKeyDown(event: KeyboardEvent): void {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void this.send();
    }
  }

  private async send(event?: Event): Promise<void> {
    event?.preventDefault();
    const box = this.querySelector<HTMLTextAreaElement>('#chat-input');
    const message = box?.value ?? '';
    if (!message.trim() || this.sending || !box) return;
    box.value = '';
    sessionStorage.removeItem(DRAFT_KEY);
    const reply: ChatItem = { role: 'assistant', text: '', streaming: true };
    this.items = [...this.items, { role: 'user', text: message }, reply];
    this.sending = true;
    this.abort = new AbortController();
    let finished = false;
    try {
      for await (const event of this.api.stream('/api/agent', { body: { message, session: this.sessionKey }, signal: this.abort.signal })) {
        if (event.event === 'open') continue;
        const data = JSON.parse(event.data) as { text?: string; reply?: string; error?: { code: string; message: string }; name?: string };
        if (event.event === 'delta') reply.text += data.text ?? '';
        else if (event.event === 'done') {
          reply.text = data.reply ?? reply.text;
          finished = true;
        } else if (event.event === 'error') {
          this.items = [...this.items, { role: 'error', text: `${data.error?.code}: ${data.error?.message}` }];
          finished = true;
        } else if (event.event === 'tool_call') this.items = [...this.items.slice(0, -1), { role: 'note', text: `Using tool ${data.name}…` }, reply];
        this.items = [...this.items];
      }
      if (!finished) this.items = [...this.items, { role: 'error', text: 'The reply was cut off (the connection closed); it is in the conversation once the gateway has finished it.' }];
    } catch (err) {
      if (this.abort.signal.aborted) this.items = [...this.items, { role: 'note', text: 'Stopped.' }];
      else this.items = [...this.items, { role: 'error', text: describeError(err) }];
      // A message that never got through goes back into the box.
      if (!reply.text && !this.abort.signal.aborted && box.value === '') box.value = message;
    } finally {
      reply.streaming = false;
      this.items = this.items.filter((item) => item !== reply || item.text !== '');
      this.sending = false;
      this.abort = null;
      void this.loadConversations();
    }
  }

  override render() {
    const agents = this.enabledAgents();
    return html`
      <section class="chat" aria-labelledby="chat-title">
        <div class="toolbar">
          <h1 id="chat-title">Chat</h1>
          <label>Agent
            <select @change=${this.changeAgent} .value=${this.agentId}>
              ${agents.length === 0 ? html`<option value=${this.agentId}>${this.agentId}</option>` : nothing}
              ${agents.map((id) => html`<option value=${id} ?selected=${id === this.agentId}>${id}</option>`)}
            </select>
          </label>
          <label>Conversation
            <select @change=${(e: Event) => void this.open((e.target as HTMLSelectElement).value)}>
              ${this.conversations.some((c) => c.key === this.sessionKey) ? nothing : html`<option value=${this.sessionKey} selected>New conversation</option>`}
              ${this.conversations.map((c) => html`<option value=${c.key} ?selected=${c.key === this.sessionKey}>${c.peerId} · ${formatTime(c.updatedAt)}</option>`)}
            </select>
          </label>
          <button type="button" class="secondary" @click=${() => this.newConversation()}>New</button>
        </div>
        <ol class="messages" aria-live="polite" aria-label="Conversation">
          ${this.items.length === 0 ? html`<li class="empty">No messages yet.</li>` : nothing}
          ${this.items.map((item) => html`<li class="message ${item.role}">${item.role === 'assistant'
            ? html`<div class="markdown">${markdown(item.text)}${item.streaming ? html`<span class="cursor" aria-hidden="true">▍</span>` : nothing}</div>`
            : html`<p>${item.text}</p>`}</li>`)}
        </ol>
        <form class="composer" @submit=${this.send}>
          <label for="chat-input" class="visually-hidden">Message</label>
          <textarea id="chat-input" rows="2" placeholder="Message (Enter sends, Shift+Enter for a new line)"
            .value=${sessionStorage.getItem(DRAFT_KEY) ?? ''}
            @input=${(e: Event) => sessionStorage.setItem(DRAFT_KEY, (e.target as HTMLTextAreaElement).value)}
            @keydown=${this.onKeyDown}></textarea>
          ${this.sending
            ? html`<button type="button" class="stop" @click=${() => this.abort?.abort()}>Stop</button>`
            : html`<button type="submit">Send</button>`}
        </form>
      </section>
    `;
  }
}
customElements.define('xopc-chat-view', XopcChatView);

/** A message's Markdown as sanitized HTML, or as plain text while the renderer loads. */
function markdown(text: string) {
  const rendered = markdownHtml(text);
  return rendered === null ? html`<p>${text}</p>` : unsafeHTML(rendered);
}
