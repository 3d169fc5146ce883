import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkTimeZone, cronTiming, onceTiming, parseAt, TimingError } from '../worker/cron/cron-schedule.js';

const at = (iso: string) => new Date(iso);

describe('cron timing (croner)', () => {
  test('5-field expressions have minute precision and are read in their time zone', () => {
    const weekdaysAtNine = cronTiming('0 9 * * 1-5', 'America/New_York');
    // Friday 2025-01-03 15:00 UTC is 10:00 in New York: next is Monday 09:00 EST = 14:00 UTC.
    assert.deepEqual(weekdaysAtNine.next(at('2025-01-03T15:00:00Z')), at('2025-01-06T14:00:00Z'));
    assert.deepEqual(cronTiming('0 9 * * *', 'Asia/Tokyo').next(at('2025-01-01T00:00:00Z')), at('2025-01-02T00:00:00Z'));
    // Across a DST change: 09:00 Paris is 08:00 UTC in winter, 07:00 UTC in summer.
    const paris = cronTiming('0 9 * * *', 'Europe/Paris');
    assert.deepEqual(paris.next(at('2025-03-29T12:00:00Z')), at('2025-03-30T07:00:00Z'));
  });

  test('6-field expressions have seconds first', () => {
    const everySecond = cronTiming('* * * * * *', 'UTC');
    assert.deepEqual(everySecond.next(at('2025-01-01T00:00:00.400Z')), at('2025-01-01T00:00:01Z'));
    assert.deepEqual(cronTiming('*/15 * * * * *', 'UTC').next(at('2025-01-01T00:00:01Z')), at('2025-01-01T00:00:15Z'));
    assert.deepEqual(cronTiming('@hourly', 'UTC').next(at('2025-01-01T00:10:00Z')), at('2025-01-01T01:00:00Z'));
  });

  test('next is strictly after; latest finds the newest occurrence in (after, upTo]', () => {
    const everyMinute = cronTiming('* * * * *', 'UTC');
    assert.deepEqual(everyMinute.next(at('2025-01-01T00:01:00Z')), at('2025-01-01T00:02:00Z'));
    assert.deepEqual(everyMinute.latest(at('2025-01-01T00:00:30Z'), at('2025-01-01T00:05:00Z')), at('2025-01-01T00:05:00Z'));
    assert.deepEqual(everyMinute.latest(at('2025-01-01T00:00:30Z'), at('2025-01-01T00:04:59.900Z')), at('2025-01-01T00:04:00Z'));
    assert.equal(everyMinute.latest(at('2025-01-01T00:05:00Z'), at('2025-01-01T00:05:59Z')), null);
    assert.equal(cronTiming('0 9 * * *', 'UTC').latest(at('2025-01-01T09:00:00Z'), at('2025-01-02T08:59:59Z')), null);
  });

  test('bad expressions and time zones say what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['* * *', /exactly five, six/],
      ['* * * * * * *', /5 or 6 parts/],
      ['61 * * * *', /Invalid value for minute: 61/],
      ['*/0 * * * *', /illegal stepping/],
      ['every day', /Invalid cron expression/],
      ['0 0 30 2 *', /never fires/],
      ['2030-01-01T09:00', /use "at"/],
    ];
    for (const [expression, message] of cases) {
      assert.throws(() => cronTiming(expression, 'UTC'), (err: Error) => err instanceof TimingError && message.test(err.message), expression);
    }
    assert.throws(() => cronTiming('* * * * *', 'Mars/Olympus'), /Unknown time zone "Mars\/Olympus"/);
    assert.throws(() => checkTimeZone('not a zone'), TimingError);
    checkTimeZone('UTC');
  });
});

describe('one-shot times', () => {
  test('an ISO time without an offset is wall-clock time in the time zone; with one it is that instant', () => {
    assert.deepEqual(parseAt('2030-01-31T09:00', 'Asia/Tokyo'), at('2030-01-31T00:00:00Z'));
    assert.deepEqual(parseAt('2030-07-01 09:30:15', 'Europe/Paris'), at('2030-07-01T07:30:15Z'));
    assert.deepEqual(parseAt('2030-01-31T09:00:00Z', 'Asia/Tokyo'), at('2030-01-31T09:00:00Z'));
    assert.deepEqual(parseAt('2030-01-31T09:00:00+0200', 'UTC'), at('2030-01-31T07:00:00Z'));
    for (const bad of ['tomorrow', '2030-01-31', '09:00', '2030-13-01T00:00']) {
      assert.throws(() => parseAt(bad, 'UTC'), TimingError, bad);
    }
  });

  test('a one-shot timing fires once', () => {
    const once = onceTiming(at('2030-01-01T00:00:00Z'));
    assert.deepEqual(once.next(at('2029-12-31T00:00:00Z')), at('2030-01-01T00:00:00Z'));
    assert.equal(once.next(at('2030-01-01T00:00:00Z')), null);
    assert.deepEqual(once.latest(at('2029-01-01T00:00:00Z'), at('2031-01-01T00:00:00Z')), at('2030-01-01T00:00:00Z'));
    assert.equal(once.latest(at('2030-01-01T00:00:00Z'), at('2031-01-01T00:00:00Z')), null);
  });
});
