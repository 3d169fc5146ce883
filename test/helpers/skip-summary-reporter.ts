/**
 * A node:test reporter that adds one closing line naming what was skipped, next to the
 * default reporter (see the `test` script): `skipped: 2 tests (runit: runsv; systemd: systemd-analyze)`.
 * A developer without a Debian package sees at the end, in one place, what did not run and
 * why; nothing is printed when nothing was skipped, and node's own counts stay untouched.
 */

/** The part of a node:test event this reporter reads. */
interface TestEvent {
  type: string;
  data?: { skip?: string | boolean; name?: string };
}

// The reason needsPackage() gives: needs `runsv` (Debian package runit: ...).
const PACKAGE_REASON = /^needs `([^`]+)` \(Debian package ([^:)]+)/;

/** The closing line for these skip reasons, or '' when there are none. */
export function skipSummary(reasons: Array<string | true>): string {
  if (reasons.length === 0) return '';
  const groups = new Map<string, Set<string>>();
  for (const reason of reasons) {
    const match = typeof reason === 'string' ? PACKAGE_REASON.exec(reason) : null;
    const key = match ? match[2]! : typeof reason === 'string' ? reason : 'no reason given';
    if (!groups.has(key)) groups.set(key, new Set());
    if (match) groups.get(key)!.add(match[1]!);
  }
  const parts = [...groups].map(([key, commands]) => (commands.size > 0 ? `${key}: ${[...commands].join(', ')}` : key));
  return `skipped: ${reasons.length} test${reasons.length === 1 ? '' : 's'} (${parts.join('; ')})`;
}

/** The reporter: reads every event, yields the summary line once the run is over. */
export default async function* skipSummaryReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const reasons: Array<string | true> = [];
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data?.skip) reasons.push(event.data.skip);
  }
  const line = skipSummary(reasons);
  if (line) yield `${line}\n`;
}
