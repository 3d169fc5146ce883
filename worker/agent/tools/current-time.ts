import type { AgentTool } from '../tool-registry.js';

/**
 * The built-in clock: the current date and time in a requested IANA time zone
 * (default UTC). Models do not know the time; this is how they learn it.
 */
export function createCurrentTimeTool(now: () => Date = () => new Date()): AgentTool {
  return {
    name: 'current_time',
    description: 'Get the current date and time. Optionally pass an IANA time zone such as "Europe/Paris" or "America/New_York" (default UTC).',
    parameters: {
      type: 'object',
      properties: {
        timezone: { type: 'string', description: 'IANA time zone name, e.g. "Asia/Shanghai". Default: UTC.' },
      },
      additionalProperties: false,
    },
    execute(args) {
      const requested = typeof args.timezone === 'string' ? args.timezone.trim() : '';
      const timeZone = requested || 'UTC';
      const date = now();
      let readable: string;
      try {
        readable = new Intl.DateTimeFormat('en-US', { timeZone, dateStyle: 'full', timeStyle: 'long' }).format(date);
      } catch {
        return { text: `Unknown time zone "${timeZone}". Use an IANA name such as "Europe/Paris" or "UTC".`, isError: true };
      }
      return JSON.stringify({ timezone: timeZone, local: readable, iso: isoInZone(date, timeZone), utc: date.toISOString() });
    },
  };
}

/** `2025-03-01T09:30:00+08:00`: the wall-clock time in `timeZone` with its UTC offset. */
export function isoInZone(date: Date, timeZone: string): string {
  const fields = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    }).formatToParts(date).map((part) => [part.type, part.value]),
  ) as Record<string, string>;
  const wallClockAsUtc = Date.UTC(+fields.year!, +fields.month! - 1, +fields.day!, +fields.hour!, +fields.minute!, +fields.second!);
  const offsetMinutes = Math.round((wallClockAsUtc - Math.floor(date.getTime() / 1000) * 1000) / 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${fields.year}-${fields.month}-${fields.day}T${fields.hour}:${fields.minute}:${fields.second}${offset}`;
}
