import { html, nothing } from 'lit';
import type { ApiClient } from './api.js';
import { describeError, XopcElement } from './element.js';
import type { LogEntry } from './types.js';

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const FIRST_LINES = 200;
const EARLIER_STEP = 200;
const MAX_KEPT = 5000;
const RETRY_MS = 1000;
const SEARCH_DELAY_MS = 300;

/** The live log: the newest lines, then each new one as it is written; level filter, search, earlier lines on scroll. */
export class XopcLogsView extends XopcElement {
  static override properties = {
    api: { attribute: false },
    entries: { state: true },
    level: { state: true },
    query: { state: true },
    live: { state: true },
    error: { state: true },
    noMoreEarlier: { state: true },
  };

  api!: ApiClient;
  entries: LogEntry[] = [];
  level = 'info';
  query = '';
  live = false;
  error = '';
  private abort: AbortController | null = null;
  private searchTimer: ReturnType<typeof setTimeout> | undefined;
  private loadingEarlier = false;
  private noMoreEarlier = false;
  /** The API's cursor for the lines before the first one shown (null until the stream gives it). */
  private earlierCursor: string | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    this.restart();
  }

  override disconnectedCallback(): void {
    this.abort?.abort();
    clearTimeout(this.searchTimer);
    super.disconnectedCallback();
  }

  private filterQuery(): URLSearchParams {
    const params = new URLSearchParams();
    if (this.level) params.set('level', this.level);
    if (this.query) params.set('q', this.query);
    return params;
  }

  /** (Re)opens the stream with the current filter, starting from its newest lines. */
  private restart(): void {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.noMoreEarlier = false;
    this.earlierCursor = null;
    this.entries = [];
    void this.follow(abort, true);
  }

  private async follow(abort: AbortController, first: boolean): Promise<void> {
    const params = this.filterQuery();
    params.set('lines', first ? String(FIRST_LINES) : '0');
    try {
      for await (const event of this.api.stream(`/api/logs/stream?${params}`, { signal: abort.signal })) {
        if (event.event === 'open') {
          this.live = true;
          this.error = '';
        } else if (event.event === 'entry') {
          this.addEntry(JSON.parse(event.data) as LogEntry);
        } else if (event.event === 'history' && first) {
          // Where the first lines shown begin; a stream that follows on after a restart starts later.
          this.earlierCursor = (JSON.parse(event.data) as { before: string | null }).before;
          if (this.earlierCursor === null) this.noMoreEarlier = true;
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
      if ((err as { code?: string }).code !== 'NETWORK') this.error = describeError(err);
    }
    if (abort.signal.aborted) return;
    // The stream ended (the worker restarted) or failed: follow again from now on.
    this.live = false;
    setTimeout(() => {
      if (!abort.signal.aborted) void this.follow(abort, false);
    }, RETRY_MS);
  }

  private addEntry(entry: LogEntry): void {
    const list = this.querySelector('.log-lines');
    const atEnd = !list || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const next = [...this.entries, entry];
    if (next.length > MAX_KEPT) {
      // The oldest lines shown are dropped, so the cursor no longer meets them: no reading back from here.
      this.entries = next.slice(next.length - MAX_KEPT);
      this.earlierCursor = null;
      this.noMoreEarlier = true;
    } else this.entries = next;
    this.scrollToEnd(atEnd);
  }

  private scrollToEnd(should: boolean): void {
    if (!should) return;
    void this.updateComplete.then(() => {
      const list = this.querySelector('.log-lines');
      list?.scrollTo({ top: list.scrollHeight });
    });
  }

  /** The lines before the first one shown, read back from the API's cursor: none twice, none skipped. */
  private async loadEarlier(): Promise<void> {
    const before = this.earlierCursor;
    if (this.loadingEarlier || this.noMoreEarlier || before === null || this.entries.length >= MAX_KEPT) return;
    this.loadingEarlier = true;
    const params = this.filterQuery();
    params.set('lines', String(EARLIER_STEP));
    params.set('before', before);
    try {
      const page = await this.api.get<{ entries: LogEntry[]; before: string | null }>(`/api/logs?${params}`);
      // The filter changed meanwhile: this answer belongs to the old one.
      if (this.earlierCursor !== before) return;
      this.earlierCursor = page.before;
      if (page.before === null) this.noMoreEarlier = true;
      const list = this.querySelector('.log-lines');
      const fromBottom = list ? list.scrollHeight - list.scrollTop : 0;
      this.entries = [...page.entries, ...this.entries];
      await this.updateComplete;
      if (list) list.scrollTop = list.scrollHeight - fromBottom;
    } catch (err) {
      this.error = describeError(err);
    } finally {
      this.loadingEarlier = false;
    }
  }

  private onSearch(event: Event): void {
    const value = (event.target as HTMLInputElement).value;
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => {
      this.query = value;
      this.restart();
    }, SEARCH_DELAY_MS);
  }

  override render() {
    return html`
      <section class="logs" aria-labelledby="logs-title">
        <div class="toolbar">
          <h1 id="logs-title">Logs</h1>
          <label>Level
            <select @change=${(e: Event) => { this.level = (e.target as HTMLSelectElement).value; this.restart(); }}>
              ${Object.values(LEVELS).map((name) => html`<option value=${name} ?selected=${name === this.level}>${name} and above</option>`)}
            </select>
          </label>
          <label>Search <input type="search" .value=${this.query} @input=${this.onSearch} /></label>
          <span class="connection ${this.live ? 'up' : 'reconnecting'}">${this.live ? 'Live' : 'Connecting…'}</span>
        </div>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
        <button type="button" class="secondary" ?disabled=${this.noMoreEarlier} @click=${() => void this.loadEarlier()}>Load earlier lines</button>
        <ol class="log-lines" tabindex="0" aria-label="Log lines" @scroll=${(e: Event) => { if ((e.target as HTMLElement).scrollTop === 0) void this.loadEarlier(); }}>
          ${this.entries.map((entry) => html`<li class="log-line level-${LEVELS[entry.level] ?? 'info'}">
            <time>${new Date(entry.time).toLocaleTimeString()}</time>
            <span class="level">${LEVELS[entry.level] ?? entry.level}</span>
            <span class="component">${entry.component ?? entry.proc ?? ''}</span>
            <span class="msg">${entry.msg ?? ''}${this.details(entry)}</span>
          </li>`)}
        </ol>
      </section>
    `;
  }

  private details(entry: LogEntry): string {
    const { level: _l, time: _t, msg: _m, component: _c, proc: _p, pid: _pid, hostname: _h, ...rest } = entry;
    const text = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return text.length > 400 ? `${text.slice(0, 400)}…` : text;
  }
}
customElements.define('xopc-logs-view', XopcLogsView);
