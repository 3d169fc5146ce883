import { html, nothing } from 'lit';
import type { ApiClient } from './api.js';
import { describeError, formatDuration, formatTime, XopcElement } from './element.js';
import type { GatewayStatus } from './types.js';

const REFRESH_MS = 2000;

/** Up or down, version, uptime, process ids, port, channels, and each agent's model provider. */
export class XopcStatusView extends XopcElement {
  static override properties = {
    api: { attribute: false },
    status: { state: true },
    down: { state: true },
    error: { state: true },
  };

  api!: ApiClient;
  status: GatewayStatus | null = null;
  down = false;
  error = '';
  private timer: ReturnType<typeof setInterval> | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
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
    try {
      this.status = await this.api.get<GatewayStatus>('/api/status');
      this.down = false;
      this.error = '';
    } catch (err) {
      this.down = (err as { code?: string }).code === 'NETWORK';
      if (!this.down) this.error = describeError(err);
    }
  }

  override render() {
    const s = this.status;
    return html`
      <section aria-labelledby="status-title">
        <div class="toolbar">
          <h1 id="status-title">Status</h1>
          <span class="badge ${this.down ? 'error' : 'ok'}" id="gateway-state" role="status">${this.down ? 'Down (reconnecting…)' : s ? 'Up' : '…'}</span>
        </div>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
        ${s ? html`
          <dl class="facts">
            <dt>Version</dt><dd>${s.version} (Node ${s.node})</dd>
            <dt>Uptime</dt><dd>${formatDuration(s.uptime)} (worker since ${formatTime(s.startedAt)})</dd>
            <dt>Supervisor pid</dt><dd id="supervisor-pid">${s.pid}</dd>
            <dt>Worker pid</dt><dd id="worker-pid">${s.workerPid}</dd>
            <dt>Address</dt><dd>${s.host}:${s.port}</dd>
            <dt>Channels</dt><dd>${s.channels.join(', ') || 'none'}</dd>
          </dl>
          <div class="table-wrap">
            <table>
              <caption>Agents</caption>
              <thead><tr><th scope="col">Agent</th><th scope="col">Model</th><th scope="col">Provider</th><th scope="col">Configured</th></tr></thead>
              <tbody>${s.agents.map((a) => html`<tr>
                <td>${a.id}${a.default ? ' (default)' : ''}${a.enabled ? '' : ' (disabled)'}</td>
                <td><code>${a.model ?? "(not chosen)"}</code></td><td>${a.provider}</td>
                <td>${a.configured ? html`<span class="badge ok">yes</span>` : html`<span class="badge error">no</span> <span class="meta">${a.problem}</span>`}</td>
              </tr>`)}</tbody>
            </table>
          </div>` : nothing}
      </section>
    `;
  }
}
customElements.define('xopc-status-view', XopcStatusView);
