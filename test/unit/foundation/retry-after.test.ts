import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../../src/retry-after.ts';

const NOW = Date.UTC(2026, 11, 6, 12);

describe('retryAfterMs', () => {
  it('reads delta seconds, with fractions', () => {
    expect(retryAfterMs('2', NOW)).toBe(2000);
    expect(retryAfterMs(' 3 ', NOW)).toBe(3000);
    expect(retryAfterMs('0.25', NOW)).toBe(250);
  });

  it('reads HTTP dates, never as a negative wait', () => {
    expect(retryAfterMs(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30_000);
    expect(retryAfterMs(new Date(NOW - 30_000).toUTCString(), NOW)).toBe(0);
  });

  it('is undefined when absent or unreadable', () => {
    expect(retryAfterMs('soon', NOW)).toBeUndefined();
    expect(retryAfterMs(null, NOW)).toBeUndefined();
    expect(retryAfterMs(undefined, NOW)).toBeUndefined();
    expect(retryAfterMs('', NOW)).toBeUndefined();
  });
});
