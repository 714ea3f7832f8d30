import { describe, expect, it } from 'vitest';
import { createClock } from '../../../src/sandbox/hubspot/clock.ts';
import { createRng } from '../../../src/sandbox/hubspot/random.ts';
import { Sender } from '../../../src/sandbox/hubspot/sender.ts';
import { WORKFLOW_DELIVERY } from '../../../src/sandbox/hubspot/workflows.ts';

describe('the stand-in\u2019s delivery retries', () => {
  it('grow from the first delay and never exceed the longest gap (with \u00b150% jitter)', () => {
    const sender = new Sender({ clock: createClock(1), rng: createRng(3), concurrency: 1, maxRetries: Number.POSITIVE_INFINITY, ...WORKFLOW_DELIVERY });
    const first = sender.retryDelay(1);
    expect(first).toBeGreaterThanOrEqual(30_000);
    expect(first).toBeLessThanOrEqual(90_000);
    for (let n = 1; n <= 40; n++) expect(sender.retryDelay(n)).toBeLessThanOrEqual(1.5 * 8 * 3_600_000);
    expect(sender.retryDelay(30)).toBeGreaterThanOrEqual(0.5 * 8 * 3_600_000);
  });
});
