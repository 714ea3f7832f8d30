import { describe, expect, it } from 'vitest';
import { createClock } from '../../../src/sandbox/hubspot/clock.ts';
import { RateLimiter, nextMidnight } from '../../../src/sandbox/hubspot/limits.ts';

function fakeClock(scale = 1, start = Date.parse('2026-11-22T08:00:00Z')) {
  let t = start;
  const clock = createClock(scale, () => t);
  return { clock, advance: (ms: number) => { t += ms; } };
}

describe('RateLimiter', () => {
  it('rolls a 10-second window: calls free up one by one as they age out', () => {
    const { clock, advance } = fakeClock();
    const l = new RateLimiter({ perTenSeconds: 3, daily: null, searchPerSecond: 5 }, clock);
    expect(l.admit('api').ok).toBe(true);
    advance(4_000);
    expect(l.admit('api').ok).toBe(true);
    expect(l.admit('api').headers['X-HubSpot-RateLimit-Remaining']).toBe('0');
    const refused = l.admit('api');
    expect(refused.ok === false && [refused.policy, refused.retryAfterMs]).toEqual(['TEN_SECONDLY_ROLLING', 6_000]);
    advance(6_000);
    expect(l.admit('api').ok).toBe(true);
    expect(l.admit('api').ok).toBe(false);
  });

  it('keeps ratios under a time scale', () => {
    const { clock, advance } = fakeClock(0.01);
    const l = new RateLimiter({ perTenSeconds: 2, daily: null, searchPerSecond: 1 }, clock);
    expect(l.headers()['X-HubSpot-RateLimit-Interval-Milliseconds']).toBe('100');
    l.admit('api');
    l.admit('api');
    expect(l.admit('api').ok).toBe(false);
    expect(l.admit('search').ok).toBe(true);
    const s = l.admit('search');
    expect(s.ok === false && s.policy).toBe('SECONDLY');
    expect(s.headers).toEqual({});
    advance(100);
    expect(l.admit('api').ok).toBe(true);
    expect(l.admit('search').ok).toBe(true);
  });

  it('caps the day and resets at (scaled) midnight', () => {
    const { clock, advance } = fakeClock(0.001);
    const l = new RateLimiter({ perTenSeconds: 100, daily: 2, searchPerSecond: 5 }, clock);
    l.admit('api');
    l.admit('search');
    const r = l.admit('api');
    expect(r.ok === false && r.policy).toBe('DAILY');
    expect(r.ok === false && r.retryAfterMs).toBe(86_400);
    advance(86_400);
    expect(l.admit('api').ok).toBe(true);
    expect(l.headers()['X-HubSpot-RateLimit-Daily-Remaining']).toBe('1');
  });

  it('resets daily at the real midnight by default', () => {
    expect(new Date(nextMidnight(Date.parse('2026-11-22T08:00:00Z'))).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(new Date(nextMidnight(Date.parse('2026-11-22T08:00:00Z'), -300)).toISOString()).toBe('2026-11-23T05:00:00.000Z');
  });
});
