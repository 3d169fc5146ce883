import { isIPv6 } from 'node:net';

export interface AuthFailureLimiterOptions {
  /** Failures within `windowMs` that lock an address out. */
  maxFailures?: number;
  windowMs?: number;
  /** How long a locked-out address is refused. */
  lockoutMs?: number;
  /** Addresses tracked at once; the oldest are dropped beyond this. */
  maxEntries?: number;
  now?: () => number;
}

/** Counts failed auth attempts per client address and locks out the noisy ones. */
export interface AuthFailureLimiter {
  /** Milliseconds the address is still locked out for; 0 when it is not. */
  lockedFor(address: string): number;
  /** Counts a failed attempt; true when this one locked the address out. */
  recordFailure(address: string): boolean;
  /** Addresses currently tracked (for tests and diagnostics). */
  size(): number;
}

interface Entry {
  /** Times of recent failures, oldest first, never more than maxFailures. */
  failures: number[];
  lockedUntil: number;
}

/**
 * Defaults follow the peer gateway that got this right: 10 failures in a minute, then
 * 5 minutes of lockout (notes/lessons-from-peers.md, Auth).
 */
export function createAuthFailureLimiter(options: AuthFailureLimiterOptions = {}): AuthFailureLimiter {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const lockoutMs = options.lockoutMs ?? 5 * 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order; re-inserting on every failure keeps it ordered by last activity.
  const entries = new Map<string, Entry>();

  function isStale(entry: Entry, at: number): boolean {
    const lastFailure = entry.failures[entry.failures.length - 1] ?? 0;
    return entry.lockedUntil <= at && lastFailure <= at - windowMs;
  }

  function makeRoom(at: number): void {
    if (entries.size < maxEntries) return;
    for (const [key, entry] of entries) if (isStale(entry, at)) entries.delete(key);
    // Still full of live entries: forget the least recently active ones.
    for (const key of entries.keys()) {
      if (entries.size < maxEntries) break;
      entries.delete(key);
    }
  }

  return {
    lockedFor(address) {
      const key = clientKey(address);
      const entry = entries.get(key);
      if (!entry) return 0;
      const at = now();
      if (isStale(entry, at)) {
        entries.delete(key);
        return 0;
      }
      return Math.max(0, entry.lockedUntil - at);
    },
    recordFailure(address) {
      const key = clientKey(address);
      const at = now();
      let entry = entries.get(key);
      if (entry) entries.delete(key);
      else makeRoom(at);
      entry ??= { failures: [], lockedUntil: 0 };
      entry.failures = entry.failures.filter((time) => time > at - windowMs);
      entry.failures.push(at);
      if (entry.failures.length > maxFailures) entry.failures.shift();
      const locks = entry.failures.length >= maxFailures && entry.lockedUntil <= at;
      if (locks) entry.lockedUntil = at + lockoutMs;
      entries.set(key, entry);
      return locks;
    },
    size: () => entries.size,
  };
}

/**
 * The key an address is counted under. IPv6 clients usually own a whole /64, so counting
 * single addresses would let one client rotate through fresh ones; IPv4-mapped addresses
 * count as the IPv4 address they are.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  // A trailing dotted quad (64:ff9b::1.2.3.4) fills two groups.
  const plain = address.toLowerCase().split('%')[0]!.replace(/\d+\.\d+\.\d+\.\d+$/, '0:0');
  const [head = '', tail = ''] = plain.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = plain.includes('::') ? (tail ? tail.split(':') : []) : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
