import { html, nothing } from 'lit';
import { createApiClient, healthy, type ApiClient } from './api.js';
import { XopcElement } from './element.js';
import { loadMarkdown } from './markdown-lazy.js';
import type { GatewayStatus } from './types.js';
import './sign-in.js';
import './chat-view.js';

const TOKEN_KEY = 'xopc.token';
const VIEWS = ['chat', 'sessions', 'cron', 'logs', 'status'] as const;
type View = (typeof VIEWS)[number];
const VIEW_TITLES: Record<View, string> = { chat: 'Chat', sessions: 'Sessions', cron: 'Cron', logs: 'Logs', status: 'Status' };
const RECONNECT_POLL_MS = 1000;
// The chat is the first view, so only its code is in the page's first script; the other
// views are their own chunks, fetched once the first view is on screen (so that a switch
// later, even while the gateway restarts, finds them already here).
const LATER_VIEWS: Record<Exclude<View, 'chat'>, () => Promise<unknown>> = {
  sessions: () => import('./sessions-view.js'),
  cron: () => import('./cron-view.js'),
  logs: () => import('./logs-view.js'),
  status: () => import('./status-view.js'),
};

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
    loaded: { state: true },
    loadError: { state: true },
  };

  token: string | null = null;
  reason = '';
  view: View = 'chat';
  connection: 'up' | 'reconnecting' = 'up';
  status: GatewayStatus | null = null;
  loaded: ReadonlySet<View> = new Set(['chat']);
  loadError = '';
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

  protected override firstUpdated(): void {
    afterFirstPaint(() => {
      void loadMarkdown();
      for (const view of Object.keys(LATER_VIEWS) as Array<keyof typeof LATER_VIEWS>) void this.loadView(view);
    });
  }

  /** Fetches a view's chunk (once; again after a failure) and shows the view when it is here. */
  private async loadView(view: Exclude<View, 'chat'>): Promise<void> {
    if (this.loaded.has(view)) return;
    try {
      await LATER_VIEWS[view]();
      this.loaded = new Set([...this.loaded, view]);
      this.loadError = '';
    } catch {
      if (this.view === view) this.loadError = `The ${VIEW_TITLES[view]} view could not be loaded from the gateway; it is tried again when you open it.`;
    }
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
    this.loadError = '';
    if (this.view !== 'chat') void this.loadView(this.view);
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
    // After this task: the first render (the chat box) does not wait for the request to be sent.
    setTimeout(() => void this.refreshStatus());
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
    if (!this.loaded.has(this.view)) return html`<p class=${this.loadError ? 'error' : 'hint'} role="status">${this.loadError || 'Loading…'}</p>`;
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

// Without a paint (a tab opened in the background) the later chunks still load, after this long.
const FIRST_PAINT_FALLBACK_MS = 1000;

/**
 * Runs `then` once the first contentful paint is on screen (or after a second without one).
 * Evaluating the Markdown renderer takes the main thread for tens of milliseconds, and any
 * sooner (even right after the first frame is produced) it delays that frame's display.
 */
function afterFirstPaint(then: () => void): void {
  let done = false;
  const run = (): void => {
    if (done) return;
    done = true;
    observer.disconnect();
    clearTimeout(timer);
    then();
  };
  const observer = new PerformanceObserver((list) => {
    if (list.getEntriesByName('first-contentful-paint').length > 0) run();
  });
  const timer = setTimeout(run, FIRST_PAINT_FALLBACK_MS);
  observer.observe({ type: 'paint', buffered: true });
}
