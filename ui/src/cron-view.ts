import { html, nothing } from 'lit';
import type { ApiClient } from './api.js';
import { describeError, formatTime, XopcElement } from './element.js';
import type { CronJob, GatewayStatus } from './types.js';

const REFRESH_MS = 3000;
// Form fields, by the names the API's messages start with.
const FIELDS = ['name', 'schedule', 'at', 'timezone', 'message', 'channel', 'chat_id', 'agentId'] as const;
type Field = (typeof FIELDS)[number];

// What the API's validation messages say about each field, first match wins.
const FIELD_PATTERNS: Array<[Field, RegExp]> = [
  ['schedule', /^schedule\b|cron expression/i],
  ['at', /"at"|^at\b/i],
  ['timezone', /time zone|^timezone\b/i],
  ['chat_id', /^channel and chat_id|^chat_id\b/i],
  ['channel', /^channel\b|^Channel "/],
  ['message', /^message\b/i],
  ['name', /^name\b/i],
  ['agentId', /agent/i],
];

/** The form field an API validation message is about, or null for a message about the whole job. */
function fieldOf(message: string): Field | null {
  return FIELD_PATTERNS.find(([, pattern]) => pattern.test(message))?.[0] ?? null;
}

/** Cron jobs: list with next and last run, create, enable/disable, run now, delete, run history. */
export class XopcCronView extends XopcElement {
  static override properties = {
    api: { attribute: false },
    status: { attribute: false },
    jobs: { state: true },
    kind: { state: true },
    fieldError: { state: true },
    error: { state: true },
    history: { state: true },
    confirming: { state: true },
  };

  api!: ApiClient;
  status: GatewayStatus | null = null;
  jobs: CronJob[] = [];
  kind: 'schedule' | 'at' = 'schedule';
  fieldError: { field: Field | null; message: string } | null = null;
  error = '';
  history = '';
  confirming = '';
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
      this.jobs = (await this.api.get<{ jobs: CronJob[] }>('/api/cron')).jobs;
      this.error = '';
    } catch (err) {
      this.error = describeError(err);
    }
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
      this.error = '';
    } catch (err) {
      this.error = describeError(err);
    }
    await this.load();
  }

  private async create(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const body: Record<string, unknown> = { message: text('message') };
    if (text('name')) body.name = text('name');
    if (this.kind === 'schedule') body.schedule = text('schedule');
    else {
      const at = new Date(text('at'));
      body.at = Number.isNaN(at.getTime()) ? text('at') : at.toISOString();
    }
    if (text('timezone')) body.timezone = text('timezone');
    if (text('channel')) body.channel = text('channel');
    if (text('chat_id')) body.chat_id = text('chat_id');
    if (text('agentId')) body.agentId = text('agentId');
    try {
      await this.api.post('/api/cron/create', body);
      this.fieldError = null;
      form.reset();
      this.kind = 'schedule';
      await this.load();
    } catch (err) {
      const message = (err as { message?: string }).message ?? String(err);
      const field = fieldOf(message);
      this.fieldError = { field, message: describeError(err) };
      await this.updateComplete;
      this.querySelector<HTMLElement>(field ? `#cron-${field}` : '#cron-form-error')?.focus();
    }
  }

  private fieldAttrs(field: Field) {
    const invalid = this.fieldError?.field === field;
    return { invalid, describedBy: invalid ? `cron-${field}-error` : nothing };
  }

  private errorFor(field: Field) {
    return this.fieldError?.field === field ? html`<span class="field-error" id="cron-${field}-error" role="alert">${this.fieldError.message}</span>` : nothing;
  }

  override render() {
    const channels = (this.status?.channels ?? []).filter((c) => c !== 'webchat');
    const agents = (this.status?.agents ?? []).filter((a) => a.enabled).map((a) => a.id);
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const sched = this.fieldAttrs('schedule');
    const at = this.fieldAttrs('at');
    const msg = this.fieldAttrs('message');
    const tz = this.fieldAttrs('timezone');
    return html`
      <section aria-labelledby="cron-title">
        <h1 id="cron-title">Cron</h1>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
        <div class="table-wrap">
          <table class="jobs">
            <caption class="visually-hidden">Cron jobs</caption>
            <thead><tr><th scope="col">Job</th><th scope="col">When</th><th scope="col">Enabled</th><th scope="col">Next run</th><th scope="col">Last run</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              ${this.jobs.length === 0 ? html`<tr><td colspan="6" class="empty">No jobs.</td></tr>` : nothing}
              ${this.jobs.map((job) => this.renderJob(job))}
            </tbody>
          </table>
        </div>
        ${this.renderHistory()}
        <form class="card cron-form" @submit=${this.create} novalidate>
          <h2>New job</h2>
          ${this.fieldError && !this.fieldError.field ? html`<p class="error" id="cron-form-error" tabindex="-1" role="alert">${this.fieldError.message}</p>` : nothing}
          <fieldset>
            <legend>When</legend>
            <label class="inline"><input type="radio" name="kind" value="schedule" .checked=${this.kind === 'schedule'} @change=${() => (this.kind = 'schedule')} /> Repeating schedule</label>
            <label class="inline"><input type="radio" name="kind" value="at" .checked=${this.kind === 'at'} @change=${() => (this.kind = 'at')} /> Once, at a time</label>
          </fieldset>
          ${this.kind === 'schedule'
            ? html`<label for="cron-schedule">Schedule (cron expression or @daily)</label>
                <input id="cron-schedule" name="schedule" placeholder="0 9 * * 1-5" aria-invalid=${sched.invalid} aria-describedby=${sched.describedBy} />${this.errorFor('schedule')}`
            : html`<label for="cron-at">Time</label>
                <input id="cron-at" name="at" type="datetime-local" aria-invalid=${at.invalid} aria-describedby=${at.describedBy} />${this.errorFor('at')}`}
          <label for="cron-timezone">Time zone</label>
          <input id="cron-timezone" name="timezone" .value=${zone} aria-invalid=${tz.invalid} aria-describedby=${tz.describedBy} />${this.errorFor('timezone')}
          <label for="cron-message">Message to the agent</label>
          <textarea id="cron-message" name="message" rows="2" aria-invalid=${msg.invalid} aria-describedby=${msg.describedBy}></textarea>${this.errorFor('message')}
          <label for="cron-name">Name (optional)</label>
          <input id="cron-name" name="name" />${this.errorFor('name')}
          <div class="row">
            <div>
              <label for="cron-channel">Deliver to channel</label>
              <select id="cron-channel" name="channel"><option value="">nowhere (session only)</option>${channels.map((c) => html`<option value=${c}>${c}</option>`)}</select>${this.errorFor('channel')}
            </div>
            <div>
              <label for="cron-chat_id">Chat id</label>
              <input id="cron-chat_id" name="chat_id" />${this.errorFor('chat_id')}
            </div>
            <div>
              <label for="cron-agentId">Agent</label>
              <select id="cron-agentId" name="agentId">${agents.map((a) => html`<option value=${a}>${a}</option>`)}</select>${this.errorFor('agentId')}
            </div>
          </div>
          <button type="submit">Create job</button>
        </form>
      </section>
    `;
  }

  private renderJob(job: CronJob) {
    const label = job.name ?? job.id;
    const last = job.lastRun;
    return html`<tr data-job=${job.id}>
      <td><strong>${label}</strong><br /><span class="meta">${job.message.slice(0, 80)}</span></td>
      <td><code>${job.schedule ?? `at ${formatTime(job.at)}`}</code><br /><span class="meta">${job.timezone}</span></td>
      <td><button type="button" class="toggle" role="switch" aria-checked=${job.enabled ? 'true' : 'false'} aria-label="Enabled: ${label}"
        @click=${() => void this.act(() => this.api.post(`/api/cron/${encodeURIComponent(job.id)}/toggle`, { enabled: !job.enabled }))}>${job.enabled ? 'On' : 'Off'}</button></td>
      <td>${job.running ? 'running now' : formatTime(job.nextRunAt)}</td>
      <td>${last ? html`${formatTime(last.startedAt)} <span class="badge ${last.status}">${last.status}</span>` : '–'}</td>
      <td class="actions">
        <button type="button" class="secondary" @click=${() => void this.act(() => this.api.post('/api/cron/trigger', { job_id: job.id }))}>Run now</button>
        <button type="button" class="secondary" aria-expanded=${this.history === job.id ? 'true' : 'false'} @click=${() => (this.history = this.history === job.id ? '' : job.id)}>History</button>
        ${this.confirming === job.id
          ? html`<button type="button" class="danger" @click=${() => void this.act(async () => { await this.api.del(`/api/cron/${encodeURIComponent(job.id)}`); this.confirming = ''; })}>Yes, delete</button>
              <button type="button" class="secondary" @click=${() => (this.confirming = '')}>Cancel</button>`
          : html`<button type="button" class="secondary" aria-label="Delete job ${label}" @click=${() => (this.confirming = job.id)}>Delete</button>`}
      </td>
    </tr>`;
  }

  private renderHistory() {
    const job = this.jobs.find((j) => j.id === this.history);
    if (!job) return nothing;
    return html`<article class="card history" aria-labelledby="history-title">
      <h2 id="history-title">Runs of ${job.name ?? job.id}</h2>
      ${job.runs.length === 0 ? html`<p class="empty">No runs yet.</p>` : nothing}
      <ol class="runs">
        ${job.runs.map((run) => html`<li>
          <span class="badge ${run.status}">${run.status}</span> ${formatTime(run.startedAt)} · ${run.trigger} · ${run.durationMs} ms
          ${run.error ? html`<p class="error">${run.error}</p>` : nothing}
          ${run.reply ? html`<p class="meta">${run.reply.slice(0, 300)}</p>` : nothing}
        </li>`)}
      </ol>
    </article>`;
  }
}
customElements.define('xopc-cron-view', XopcCronView);
