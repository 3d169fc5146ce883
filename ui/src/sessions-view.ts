import { html, nothing } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import type { ApiClient } from './api.js';
import { describeError, formatTime, XopcElement } from './element.js';
import { markdownHtml, markdownReady } from './markdown-lazy.js';
import type { GatewayStatus, SessionMessage, SessionSummary } from './types.js';

const PAGE_SIZE = 20;
// New conversations (a Telegram chat, a cron run) appear without a reload.
const REFRESH_MS = 2000;
const CHANNELS = ['telegram', 'webhook', 'webchat', 'api', 'cron'];

/** Every session of every channel, newest first: filter, page, read one, delete with confirmation. */
export class XopcSessionsView extends XopcElement {
  static override properties = {
    api: { attribute: false },
    status: { attribute: false },
    sessions: { state: true },
    total: { state: true },
    offset: { state: true },
    shownOffset: { state: true },
    channel: { state: true },
    agentId: { state: true },
    opened: { state: true },
    confirming: { state: true },
    error: { state: true },
  };

  api!: ApiClient;
  status: GatewayStatus | null = null;
  sessions: SessionSummary[] = [];
  total = 0;
  offset = 0;
  channel = '';
  agentId = '';
  opened: { key: string; messages: SessionMessage[]; hasMore: boolean } | null = null;
  confirming = '';
  error = '';
  /** The offset of the page shown (`offset` is the one asked for, which may still be loading). */
  shownOffset = 0;
  private requests = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void markdownReady.then(() => this.requestUpdate());
    void this.load();
    this.timer = setInterval(() => {
      if (!document.hidden) void this.load();
    }, REFRESH_MS);
  }

  override disconnectedCallback(): void {
    clearInterval(this.timer);
    super.disconnectedCallback();
  }

  private async load(): Promise<void> {
    const offset = this.offset;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
    if (this.channel) query.set('channel', this.channel);
    if (this.agentId) query.set('agentId', this.agentId);
    // The periodic refresh and a click can overlap: only the latest request's answer is shown.
    const request = ++this.requests;
    try {
      const page = await this.api.get<{ sessions: SessionSummary[]; total: number }>(`/api/sessions?${query}`);
      if (request !== this.requests) return;
      this.sessions = page.sessions;
      this.total = page.total;
      this.shownOffset = offset;
      this.error = '';
    } catch (err) {
      if (request === this.requests) this.error = describeError(err);
    }
  }

  private filter(name: 'channel' | 'agentId', value: string): void {
    this[name] = value;
    this.offset = 0;
    void this.load();
  }

  private page(delta: number): void {
    this.offset = Math.max(0, this.offset + delta * PAGE_SIZE);
    void this.load();
  }

  private async open(key: string): Promise<void> {
    try {
      const { session } = await this.api.get<{ session: { messages: SessionMessage[]; hasMore: boolean } }>(`/api/sessions/${encodeURIComponent(key)}?limit=200`);
      this.opened = { key, messages: session.messages, hasMore: session.hasMore };
      await this.updateComplete;
      this.querySelector<HTMLElement>('#session-detail h2')?.focus();
    } catch (err) {
      this.error = describeError(err);
    }
  }

  private async deleteSession(key: string): Promise<void> {
    try {
      await this.api.del(`/api/sessions/${encodeURIComponent(key)}`);
      if (this.opened?.key === key) this.opened = null;
      this.confirming = '';
      await this.load();
    } catch (err) {
      this.error = describeError(err);
    }
  }

  override render() {
    const agents = (this.status?.agents ?? []).map((agent) => agent.id);
    return html`
      <section aria-labelledby="sessions-title">
        <div class="toolbar">
          <h1 id="sessions-title">Sessions</h1>
          <label>Channel
            <select @change=${(e: Event) => this.filter('channel', (e.target as HTMLSelectElement).value)}>
              <option value="">all</option>
              ${CHANNELS.map((c) => html`<option value=${c} ?selected=${c === this.channel}>${c}</option>`)}
            </select>
          </label>
          <label>Agent
            <select @change=${(e: Event) => this.filter('agentId', (e.target as HTMLSelectElement).value)}>
              <option value="">all</option>
              ${agents.map((a) => html`<option value=${a} ?selected=${a === this.agentId}>${a}</option>`)}
            </select>
          </label>
        </div>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
        <div class="table-wrap">
          <table class="sessions">
            <caption class="visually-hidden">Sessions, newest first</caption>
            <thead><tr><th scope="col">Session</th><th scope="col">Channel</th><th scope="col">Agent</th><th scope="col">Updated</th><th scope="col">Messages</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              ${this.sessions.length === 0 ? html`<tr><td colspan="6" class="empty">No sessions.</td></tr>` : nothing}
              ${this.sessions.map((s) => html`<tr data-key=${s.key}>
                <td><button type="button" class="link" @click=${() => void this.open(s.key)}>${s.peerId}</button></td>
                <td>${s.channel}</td><td>${s.agentId}</td><td>${formatTime(s.updatedAt)}</td><td>${s.messageCount}</td>
                <td>${this.confirming === s.key
                  ? html`<span class="confirm">Delete ${s.peerId}? <button type="button" class="danger" @click=${() => void this.deleteSession(s.key)}>Yes, delete</button>
                      <button type="button" class="secondary" @click=${() => (this.confirming = '')}>Cancel</button></span>`
                  : html`<button type="button" class="secondary" aria-label="Delete session ${s.key}" @click=${() => (this.confirming = s.key)}>Delete</button>`}</td>
              </tr>`)}
            </tbody>
          </table>
        </div>
        <div class="pager">
          <button type="button" class="secondary" ?disabled=${this.offset === 0} @click=${() => this.page(-1)}>Newer</button>
          <span>${this.total === 0 ? 0 : this.shownOffset + 1}–${Math.min(this.shownOffset + PAGE_SIZE, this.total)} of ${this.total}</span>
          <button type="button" class="secondary" ?disabled=${this.offset + PAGE_SIZE >= this.total} @click=${() => this.page(1)}>Older</button>
        </div>
        ${this.opened ? this.renderDetail(this.opened) : nothing}
      </section>
    `;
  }

  private renderDetail(opened: { key: string; messages: SessionMessage[]; hasMore: boolean }) {
    return html`
      <article id="session-detail" class="card">
        <div class="toolbar">
          <h2 tabindex="-1">${opened.key}</h2>
          <button type="button" class="secondary" @click=${() => (this.opened = null)}>Close</button>
        </div>
        ${opened.hasMore ? html`<p class="hint">Showing the latest ${opened.messages.length} messages.</p>` : nothing}
        <ol class="messages">
          ${opened.messages.map((m) => html`<li class="message ${m.role === 'tool' ? 'note' : m.role}">
            <span class="meta">${m.role}${m.toolName ? ` · ${m.toolName}` : ''} · ${formatTime(m.timestamp)}</span>
            ${m.role === 'assistant' ? html`<div class="markdown">${markdown(m.content)}</div>` : html`<p>${m.content}</p>`}
          </li>`)}
        </ol>
      </article>
    `;
  }
}
customElements.define('xopc-sessions-view', XopcSessionsView);

/** A message's Markdown as sanitized HTML, or as plain text while the renderer loads. */
function markdown(text: string) {
  const rendered = markdownHtml(text);
  return rendered === null ? html`<p>${text}</p>` : unsafeHTML(rendered);
}
