import { html, nothing } from 'lit';
import { createApiClient, healthy, type ApiClient } from './api.js';
import { XopcElement } from './element.js';
import type { GatewayStatus } from './types.js';
import './sign-in.js';
import './chat-view.js';
import './sessions-view.js';
import './cron-view.js';
import './logs-view.js';
import './status-view.js';

const TOKEN_KEY = 'xopc.token';
const VIEWS = ['chat', 'sessions', 'cron', 'logs', 'status'] as const;
type View = (typeof VIEWS)[number];
const VIEW_TITLES: Record<View, string> = { chat: 'Chat', sessions: 'Sessions', cron: 'Cron', logs: 'Logs', status: 'Status' };
const RECONNECT_POLL_MS = 1000;

/**
 * The page: sign-in until a token is accepted, then the views, one at a time by the URL's
 * fragment (`#/chat`, `#/sessions`, ...). Owns the token, the API client and the
 * connection state; a restarting gateway shows "reconnecting" and recovers by itself.
 */
export class XopcApp extends XopcElement {
  static override properties = {
    token: { state: true },
    reason: { state: true },
    view: { state: true },
    connection: { state: true },
    status: { state: true },
  };

  token: string | null = null;
  reason = '';
  view: View = 'chat';
  connection: 'up' | 'reconnecting' = 'up';
  status: GatewayStatus | null = null;
  private api: ApiClient | null = null;
  private reconnecting = false;

  override connectedCallback(): void {
    super.connectedCallback();
    // The token arrives in the fragment (never sent to the server); it leaves the address bar at once.
    const fromUrl = /^#token=([^&]+)/.exec(location.hash)?.[1];
    if (fromUrl) {
      localStorage.setItem(TOKEN_KEY, decodeURIComponent(fromUrl));
      history.replaceState(null, '', location.pathname + location.search);
    }
    window.addEventListener('hashchange', this.readView);
    this.readView();
    const stored = localStorage.getItem(TOKEN_KEY);
    if (stored) this.signIn(stored);
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hashchange', this.readView);
    super.disconnectedCallback();
  }

  private readView = (): void => {
    // An in-page anchor (the skip link's #main) is not a view.
    if (location.hash && !location.hash.startsWith('#/')) return;
    const name = /^#\/(\w+)/.exec(location.hash)?.[1] as View | undefined;
    this.view = name && VIEWS.includes(name) ? name : 'chat';
    document.title = `${VIEW_TITLES[this.view]} · xopc`;
  };

  /**
   * Shows the views at once (the chat box must not wait for a round trip) and checks the
   * token with GET /api/status meanwhile: a refused token goes back to sign-in with the reason.
   */
  private signIn(token: string): void {
    this.api = createApiClient({
      token,
      onAuthFailure: (reason) => this.signOut(reason),
      onNetworkError: () => this.startReconnecting(),
      onReachable: () => (this.connection = 'up'),
    });
    localStorage.setItem(TOKEN_KEY, token);
    this.token = token;
    this.reason = '';
    void this.refreshStatus();
  }

  private async refreshStatus(): Promise<void> {
    const api = this.api;
    if (!api) return;
    try {
      const status = await api.get<GatewayStatus>('/api/status');
      if (this.api === api) this.status = status;
    } catch (err) {
      // A refused token has already signed out with its reason; a gateway that is down is retried.
      const code = (err as { code?: string }).code;
      if (code === 'RATE_LIMITED') {
        this.signOut(`Locked out after too many failed sign-in attempts from this address: retry in ${(err as { retryAfter?: number }).retryAfter ?? '?'} s.`, { keepToken: true });
      }
    }
  }

  private signOut(reason = '', { keepToken = false } = {}): void {
    if (!keepToken) localStorage.removeItem(TOKEN_KEY);
    this.api = null;
    this.token = null;
    this.status = null;
    this.reason = reason;
  }

  private startReconnecting(): void {
    this.connection = 'reconnecting';
    if (this.reconnecting) return;
    this.reconnecting = true;
    const poll = async (): Promise<void> => {
      if (await healthy()) {
        this.reconnecting = false;
        this.connection = 'up';
        void this.refreshStatus();
        return;
      }
      setTimeout(() => void poll(), RECONNECT_POLL_MS);
    };
    setTimeout(() => void poll(), RECONNECT_POLL_MS);
  }

  override render() {
    if (!this.token || !this.api) {
      return html`<main id="main" class="sign-in-page"><xopc-sign-in .reason=${this.reason} @xopc-sign-in=${(e: CustomEvent<string>) => this.signIn(e.detail)}></xopc-sign-in></main>`;
    }
    return html`
      <header class="top">
        <span class="brand">xopc</span>
        <nav aria-label="Views">
          ${VIEWS.map((view) => html`<a href="#/${view}" aria-current=${this.view === view ? 'page' : nothing}>${VIEW_TITLES[view]}</a>`)}
        </nav>
        <span class="connection ${this.connection}" role="status">${this.connection === 'up' ? 'Connected' : 'Reconnecting…'}</span>
        <button type="button" class="link" @click=${() => this.signOut('Signed out.')}>Sign out</button>
      </header>
      <main id="main" tabindex="-1">${this.renderView(this.api)}</main>
    `;
  }

  private renderView(api: ApiClient) {
    switch (this.view) {
      case 'chat':
        return html`<xopc-chat-view .api=${api} .status=${this.status}></xopc-chat-view>`;
      case 'sessions':
        return html`<xopc-sessions-view .api=${api} .status=${this.status}></xopc-sessions-view>`;
      case 'cron':
        return html`<xopc-cron-view .api=${api} .status=${this.status}></xopc-cron-view>`;
      case 'logs':
        return html`<xopc-logs-view .api=${api}></xopc-logs-view>`;
      case 'status':
        return html`<xopc-status-view .api=${api}></xopc-status-view>`;
    }
  }
}
customElements.define('xopc-app', XopcApp);
