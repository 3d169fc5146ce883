import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientKey, createAuthFailureLimiter } from '../worker/http/rate-limit.js';

test('clientKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', () => {
  assert.equal(clientKey('127.0.0.1'), '127.0.0.1');
  assert.equal(clientKey('::ffff:10.0.0.7'), '10.0.0.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientKey('64:ff9b::1.2.3.4'), '64:ff9b:0:0::/64');
  assert.equal(clientKey('unknown'), 'unknown');
});

test('locks out after maxFailures within the window, for lockoutMs', () => {
  let now = 0;
  const limiter = createAuthFailureLimiter({ maxFailures: 3, windowMs: 1000, lockoutMs: 5000, now: () => now });
  limiter.recordFailure('10.0.0.1');
  limiter.recordFailure('10.0.0.1');
  assert.equal(limiter.lockedFor('10.0.0.1'), 0);
  limiter.recordFailure('10.0.0.1');
  assert.equal(limiter.lockedFor('10.0.0.1'), 5000);
  assert.equal(limiter.lockedFor('10.0.0.2'), 0);
  // Another address in the same /64 shares the lockout.
  limiter.recordFailure('2001:db8::1');
  limiter.recordFailure('2001:db8::2');
  limiter.recordFailure('2001:db8::3');
  assert.ok(limiter.lockedFor('2001:db8::ffff') > 0);
  now = 5000;
  assert.equal(limiter.lockedFor('10.0.0.1'), 0);
  assert.equal(limiter.lockedFor('2001:db8::1'), 0);
  assert.equal(limiter.size(), 0, 'expired entries are dropped when looked at');
});

test('failures older than the window do not count', () => {
  let now = 0;
  const limiter = createAuthFailureLimiter({ maxFailures: 3, windowMs: 1000, lockoutMs: 5000, now: () => now });
  for (let i = 0; i < 10; i++) {
    limiter.recordFailure('10.0.0.1');
    now += 501;
  }
  assert.equal(limiter.lockedFor('10.0.0.1'), 0);
});

test('memory stays bounded: stale entries go first, then the least recently active', () => {
  let now = 0;
  const limiter = createAuthFailureLimiter({ maxFailures: 2, windowMs: 1000, lockoutMs: 60_000, maxEntries: 100, now: () => now });
  limiter.recordFailure('10.9.9.9');
  limiter.recordFailure('10.9.9.9');
  for (let i = 0; i < 99; i++) limiter.recordFailure(`10.0.0.${i}`);
  assert.equal(limiter.size(), 100);
  now = 2000;
  // The 99 single failures are stale now; the lockout is not and survives the cleanup.
  limiter.recordFailure('10.1.1.1');
  assert.equal(limiter.size(), 2);
  assert.ok(limiter.lockedFor('10.9.9.9') > 0);
  for (let i = 0; i < 500; i++) limiter.recordFailure(`10.2.${i >> 8}.${i & 255}`);
  assert.ok(limiter.size() <= 100);
});
