import { LitElement } from 'lit';

/**
 * Every component of the page renders into the light DOM, so that the one stylesheet
 * (served as a file: the CSP allows no inline style) reaches it.
 */
export class XopcElement extends LitElement {
  protected override createRenderRoot(): HTMLElement {
    return this;
  }
}

/** A short local date and time, or a dash. */
export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '–';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '–' : date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** Seconds as "3d 4h", "2h 5m", "4m 10s". */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** The message of an error, for the page. */
export function describeError(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && 'message' in err) return `${String(err.code)}: ${String(err.message)}`;
  return err instanceof Error ? err.message : String(err);
}
