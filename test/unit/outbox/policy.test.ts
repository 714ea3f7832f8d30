import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../../src/loop.ts';
import { afterFailure, classifyOutcome } from '../../../src/outbox/policy.ts';
import type { HttpOutcome } from '../../../src/paragon/http.ts';

const NOW = Date.parse('2026-11-22T10:00:00Z');
const response = (status: number, headers: Record<string, string> = {}, text = ''): HttpOutcome => ({ kind: 'response', status, headers: new Headers(headers), body: text ? JSON.parse(text) : undefined, text });
const policy = { maxAttempts: 3, backoffBaseMs: 1000, backoffMaxMs: 60_000 };

describe('classifyOutcome', () => {
  it('sorts answers into sent, transient and permanent', () => {
    expect(classifyOutcome(response(201), NOW)).toEqual({ kind: 'sent', status: 201 });
    expect(classifyOutcome(response(429, { 'retry-after': '7' }), NOW)).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 7000, throttled: true });
    expect(classifyOutcome(response(503), NOW)).toMatchObject({ kind: 'transient', status: 503, throttled: false });
    expect(classifyOutcome(response(503), NOW)).not.toHaveProperty("retryAfterMs");
    expect(classifyOutcome(response(408), NOW).kind).toBe('transient');
    expect(classifyOutcome({ kind: 'timeout' }, NOW)).toMatchObject({ kind: 'transient', status: null, error: 'timeout' });
    expect(classifyOutcome({ kind: 'network', error: 'ECONNRESET' }, NOW)).toMatchObject({ kind: 'transient', error: 'network error: ECONNRESET' });
    expect(classifyOutcome(response(400, {}, '{"message":"bad payload"}'), NOW)).toEqual({ kind: 'permanent', status: 400, error: 'HTTP 400: bad payload' });
    expect(classifyOutcome(response(401), NOW).kind).toBe('permanent');
  });
});

describe('backoffMs', () => {
  it('stays within [step/2, step] of a doubling, capped step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const step = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** (n - 1));
        const ms = backoffMs(n, policy.backoffBaseMs, policy.backoffMaxMs, r);
        return ms >= Math.floor(step / 2) && ms <= step;
      }),
    );
    expect(backoffMs(1, policy.backoffBaseMs, policy.backoffMaxMs, 0)).toBe(500);
    expect(backoffMs(3, policy.backoffBaseMs, policy.backoffMaxMs, 0.999999)).toBe(4000);
    expect(backoffMs(1000, policy.backoffBaseMs, policy.backoffMaxMs, 0)).toBe(30_000);
  });
});

describe('afterFailure', () => {
  it('never makes a row dead for transient failures, however many', () => {
    const u = afterFailure({ attempts: 500, failures: 0 }, { kind: 'transient', status: 503, error: 'HTTP 503', throttled: false }, policy, NOW, 0.5);
    expect(u).toMatchObject({ status: 'pending', attempts: 501, failures: 0, lastStatus: 503 });
    expect(u.nextAttemptAt.getTime() - NOW).toBeLessThanOrEqual(policy.backoffMaxMs);
  });

  it('honours Retry-After, up to backoffMaxMs', () => {
    const at = (ms: number) => afterFailure({ attempts: 0, failures: 0 }, { kind: 'transient', status: 429, error: 'HTTP 429', retryAfterMs: ms, throttled: true }, policy, NOW, 0).nextAttemptAt.getTime() - NOW;
    expect(at(12_000)).toBe(12_000);
    expect(at(3_600_000)).toBe(60_000);
  });

  it('counts permanent refusals toward maxAttempts, then dead', () => {
    const refused = { kind: 'permanent', status: 400, error: 'HTTP 400' } as const;
    const one = afterFailure({ attempts: 4, failures: 0 }, refused, policy, NOW, 0);
    expect(one).toMatchObject({ status: 'pending', attempts: 5, failures: 1 });
    expect(one.nextAttemptAt.getTime()).toBeGreaterThan(NOW);
    const last = afterFailure({ attempts: 9, failures: 2 }, refused, policy, NOW, 0);
    expect(last).toMatchObject({ status: 'dead', failures: 3, lastError: 'HTTP 400', lastStatus: 400 });
  });
});
