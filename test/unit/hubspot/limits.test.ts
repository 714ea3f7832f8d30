import { describe, expect, it } from 'vitest';
import { nextMidnight, parseRateHeaders, pauseFor429, policyOf, timeZoneOffsetMs } from '../../../src/hubspot/limits.ts';

const base = { kind: 'api' as const, retryAfterMs: undefined, nowMs: 1_000_000, windowMs: 10_000, searchWindowMs: 1000, oldestInWindowMs: undefined, floorMs: 500, timeZone: 'UTC', timeScale: 1 };

describe('rate-limit decisions', () => {
  it('reads the X-HubSpot-RateLimit headers in any case and ignores junk', () => {
    expect(parseRateHeaders({ 'X-HubSpot-RateLimit-Max': '190', 'x-hubspot-ratelimit-remaining': '12', 'X-HubSpot-RateLimit-Interval-Milliseconds': '10000', 'X-HubSpot-RateLimit-Daily': '625000', 'X-HubSpot-RateLimit-Daily-Remaining': 'x' }))
      .toEqual({ max: 190, remaining: 12, intervalMs: 10_000, daily: 625_000 });
    expect(parseRateHeaders({})).toEqual({});
  });

  it('knows the 429 policies', () => {
    expect(policyOf({ policyName: 'DAILY' })).toBe('DAILY');
    expect(policyOf({ policyName: 'OTHER' })).toBeUndefined();
    expect(policyOf('text')).toBeUndefined();
  });

  it('pauses ordinary calls for the rest of the rolling window', () => {
    expect(pauseFor429({ ...base, policy: 'TEN_SECONDLY_ROLLING', oldestInWindowMs: 996_000 })).toEqual({ scope: 'api', untilMs: 1_006_000, policy: 'TEN_SECONDLY_ROLLING' });
    // Never less than a tenth of the window, never more than one.
    expect(pauseFor429({ ...base, policy: 'TEN_SECONDLY_ROLLING', oldestInWindowMs: 990_500 }).untilMs).toBe(1_001_000);
    expect(pauseFor429({ ...base, policy: 'TEN_SECONDLY_ROLLING' }).untilMs).toBe(1_010_000);
  });

  it('pauses the lane that hit the secondly limit: searches, or ordinary calls', () => {
    expect(pauseFor429({ ...base, kind: 'search', policy: 'SECONDLY' })).toEqual({ scope: 'search', untilMs: 1_001_000, policy: 'SECONDLY' });
    expect(pauseFor429({ ...base, kind: 'api', policy: 'SECONDLY' })).toEqual({ scope: 'api', untilMs: 1_001_000, policy: 'SECONDLY' });
    expect(pauseFor429({ ...base, kind: 'search', policy: undefined })).toMatchObject({ scope: 'search', policy: 'UNKNOWN' });
  });

  it('honours Retry-After, but never waits less than the floor', () => {
    expect(pauseFor429({ ...base, policy: 'TEN_SECONDLY_ROLLING', retryAfterMs: 2000 }).untilMs).toBe(1_002_000);
    expect(pauseFor429({ ...base, policy: 'TEN_SECONDLY_ROLLING', retryAfterMs: 0 }).untilMs).toBe(1_000_500);
    expect(pauseFor429({ ...base, kind: 'search', policy: 'SECONDLY', retryAfterMs: 0, floorMs: 4000 }).untilMs).toBe(1_004_000);
  });

  it('pauses until midnight in the account time zone for the daily limit', () => {
    const now = Date.UTC(2026, 10, 22, 21, 30);
    expect(pauseFor429({ ...base, nowMs: now, policy: 'DAILY' }).untilMs).toBe(Date.UTC(2026, 10, 23));
    // Berlin is UTC+1 in November: its midnight is 23:00 UTC.
    expect(pauseFor429({ ...base, nowMs: now, policy: 'DAILY', timeZone: 'Europe/Berlin' }).untilMs).toBe(Date.UTC(2026, 10, 22, 23));
    // New York (UTC-5): 05:00 UTC the next day.
    expect(nextMidnight(now, 'America/New_York')).toBe(Date.UTC(2026, 10, 23, 5));
  });

  it('handles a daylight-saving change on the way to midnight', () => {
    // 2026-03-29: Berlin moves from UTC+1 to UTC+2 at 01:00 UTC; the next midnight is 22:00 UTC.
    const now = Date.UTC(2026, 2, 29, 0, 30);
    expect(timeZoneOffsetMs('Europe/Berlin', now)).toBe(3_600_000);
    expect(nextMidnight(now, 'Europe/Berlin')).toBe(Date.UTC(2026, 2, 29, 22));
  });
});
