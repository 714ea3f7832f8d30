import { describe, expect, it } from 'vitest';
import { nextInterval, scheduleIntervalMs } from '../../../src/polling/adaptive.ts';

const complete = { changes: 40, missed: 0, coverage: 1 };

describe('adaptive polling', () => {
  it('doubles the interval while webhooks deliver everything, up to the maximum', () => {
    let interval = 60_000;
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      interval = nextInterval(interval, 60_000, 600_000, 0.99, complete).intervalMs;
      seen.push(interval);
    }
    expect(seen).toEqual([120_000, 240_000, 480_000, 600_000, 600_000, 600_000]);
  });

  it('treats a quiet period (no changes) as no reason to poll more', () => {
    expect(nextInterval(60_000, 60_000, 600_000, 0.99, { changes: 0, missed: 0, coverage: null })).toEqual({ intervalMs: 120_000, action: 'stretch' });
  });

  it('snaps back to the schedule on a miss or low coverage', () => {
    expect(nextInterval(480_000, 60_000, 600_000, 0.99, { changes: 40, missed: 1, coverage: 0.975 })).toEqual({ intervalMs: 60_000, action: 'snap-back' });
    expect(nextInterval(480_000, 60_000, 600_000, 0.99, { changes: 100, missed: 0, coverage: 0.9 })).toEqual({ intervalMs: 60_000, action: 'snap-back' });
    expect(nextInterval(60_000, 60_000, 600_000, 0.99, { changes: 1, missed: 1, coverage: 0 })).toEqual({ intervalMs: 60_000, action: 'hold' });
  });

  it('never stretches below the schedule when the maximum is smaller than it', () => {
    expect(nextInterval(60_000, 60_000, 30_000, 0.99, complete).intervalMs).toBe(60_000);
  });

  it('reads the base interval from the cron schedule', () => {
    expect(scheduleIntervalMs('*/2 * * * *')).toBe(120_000);
    expect(scheduleIntervalMs('*/5 * * * * *')).toBe(5_000);
  });
});
