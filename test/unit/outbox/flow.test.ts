import { describe, expect, it } from 'vitest';
import { DeliveryFlow } from '../../../src/outbox/flow.ts';

const backoff = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };
const throttled = (retryAfterMs?: number) => ({ kind: 'transient' as const, status: 429, error: '429', throttled: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
const unreachable = { kind: 'transient' as const, status: null, error: 'ECONNREFUSED', throttled: false };

describe('DeliveryFlow', () => {
  it('halves the window on each 429 down to one, and grows it back by one per full window of successes', () => {
    const flow = new DeliveryFlow(8, backoff);
    expect(flow.window).toBe(8);
    flow.transient(throttled(), 0, 0);
    expect(flow.window).toBe(4);
    for (let i = 0; i < 5; i++) flow.transient(throttled(), 0, 0);
    expect(flow.window).toBe(1);
    flow.sent();
    expect(flow.window).toBe(2);
    flow.sent();
    flow.sent();
    expect(flow.window).toBe(3);
    for (let i = 0; i < 100; i++) flow.sent();
    expect(flow.window).toBe(8);
  });

  it('pauses for Retry-After (capped at the backoff maximum), else for a backoff that grows with each failure in a row', () => {
    const flow = new DeliveryFlow(4, backoff);
    expect(flow.transient(throttled(5_000), 1_000, 0.5)).toEqual({ pauseMs: 5_000, starts: true });
    expect(flow.pausedFor(1_000)).toBe(5_000);
    // A failure during the pause extends it without starting another.
    expect(flow.transient(throttled(600_000), 2_000, 0.5)).toEqual({ pauseMs: 60_000, starts: false });
    expect(flow.pausedFor(62_000)).toBe(0);
    const second = new DeliveryFlow(4, backoff);
    const first = second.transient(unreachable, 0, 1).pauseMs;
    const next = second.transient(unreachable, first, 1).pauseMs;
    expect([first, next]).toEqual([1_000, 2_000]);
    expect(second.window).toBe(4);
  });

  it('reports how many failures in a row a success ends', () => {
    const flow = new DeliveryFlow(2, backoff);
    flow.transient(unreachable, 0, 0);
    flow.transient(unreachable, 0, 0);
    expect(flow.sent()).toBe(2);
    expect(flow.sent()).toBe(0);
  });
});
