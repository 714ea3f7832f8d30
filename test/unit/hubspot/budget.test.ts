import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AccountBudget } from '../../../src/hubspot/budget.ts';
import type { CallOutcome } from '../../../src/hubspot/outcome.ts';

const log = pino({ level: 'silent' });

function budget(overrides: Partial<ConstructorParameters<typeof AccountBudget>[0]> = {}): AccountBudget {
  return new AccountBudget({ portalId: 1, windowLimit: 10, windowMs: 200, dailyLimit: null, searchPerSecond: 2, budgetShare: 1, timeZone: 'UTC', log, backoffBaseMs: 5, backoffMaxMs: 20, arrivalMarginMs: 5, floor429Ms: 20, ...overrides });
}

const ok = <T>(value: T, headers: Record<string, string> = {}): CallOutcome<T> => ({ ok: true, value, headers });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('account budget', () => {
  it('never has more calls in flight or in the window than the window allows', async () => {
    const b = budget({ windowLimit: 4 });
    let inFlight = 0;
    let maxInFlight = 0;
    const starts: number[] = [];
    const gate = deferred();
    const calls = Array.from({ length: 8 }, () =>
      b.run('api', 'incremental', async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        starts.push(Date.now());
        await gate.promise;
        inFlight--;
        return ok(1);
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(starts.length).toBe(4);
    gate.resolve();
    await Promise.all(calls);
    expect(maxInFlight).toBe(4);
    // The second four waited for the first four to leave the window.
    expect((starts[4] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(150);
  });

  it('admits waiting calls by priority: hydration, then incremental, then backfill', async () => {
    const b = budget({ windowLimit: 1, windowMs: 60 });
    const order: string[] = [];
    const first = b.run('api', 'backfill', async () => ok(order.push('first')));
    await first;
    const calls = (['backfill', 'incremental', 'hydration'] as const).map((p) => b.run('api', p, async () => ok(order.push(p))));
    await Promise.all(calls);
    expect(order.slice(1)).toEqual(['hydration', 'incremental', 'backfill']);
  });

  it('narrows the window from the rate-limit headers, keeping the other integrations\u2019 share', async () => {
    const b = budget({ windowLimit: 100, budgetShare: 0.5 });
    await b.run('api', 'incremental', async () => ok(1, { 'x-hubspot-ratelimit-max': '20', 'x-hubspot-ratelimit-remaining': '12', 'x-hubspot-ratelimit-interval-milliseconds': '200' }));
    // Remaining 12, less the 10 that are others' share of 20.
    expect(b.windowRemaining()).toBe(2);
  });

  it('keeps to the token\u2019s own window (X-HubSpot-RateLimit-Max and -Interval-Milliseconds) once headers told it, when smaller or longer than configured', async () => {
    // Configured: 10 calls in 200 ms. The token's headers: 4 calls in 300 ms.
    const b = budget({ windowLimit: 10, windowMs: 200 });
    const headers = { 'x-hubspot-ratelimit-max': '4', 'x-hubspot-ratelimit-remaining': '3', 'x-hubspot-ratelimit-interval-milliseconds': '300' };
    await b.run('api', 'incremental', async () => ok(0, headers));
    // Long enough for that answer's Remaining to be too old to count: only Max and the interval still narrow.
    await new Promise((r) => setTimeout(r, 320));
    expect(b.windowRemaining()).toBe(4);
    const starts: number[] = [];
    const gate = deferred();
    const calls = Array.from({ length: 8 }, () =>
      b.run('api', 'incremental', async () => {
        starts.push(Date.now());
        await gate.promise;
        return ok(1);
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(starts.length).toBe(4);
    expect(b.windowRemaining()).toBe(0);
    gate.resolve();
    await Promise.all(calls);
    // The second four waited for the first four to leave the token's 300 ms window, not the configured 200 ms.
    expect((starts[4] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(290);
  });

  it('retries 5xx and network failures with backoff, and gives up after maxAttempts', async () => {
    const b = budget({ maxAttempts: 3 });
    let attempts = 0;
    const flaky = await b.run('api', 'incremental', async (): Promise<CallOutcome<number>> => {
      attempts++;
      if (attempts === 1) throw new Error('socket hang up');
      if (attempts === 2) return { ok: false, failure: 'server', status: 502, headers: {}, message: 'bad gateway' };
      return ok(7);
    });
    expect(flaky).toEqual({ ok: true, value: 7 });
    const down = await b.run('api', 'incremental', async (): Promise<CallOutcome<number>> => ({ ok: false, failure: 'server', status: 500, headers: {}, message: 'down' }));
    expect(down).toMatchObject({ ok: false, failure: 'server', status: 500 });
    const bad = await b.run('api', 'incremental', async (): Promise<CallOutcome<number>> => ({ ok: false, failure: 'client', status: 400, headers: {}, message: 'bad', body: {} }));
    expect(bad).toMatchObject({ ok: false, failure: 'client', status: 400 });
  });

  const limited = (policy: 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY' | undefined, retryAfterMs?: number): CallOutcome<number> =>
    ({ ok: false, failure: 'rate_limited', status: 429, policy, retryAfterMs, headers: {}, message: 'limit' });

  /** Runs `first` (429 once, then ok) and, while it waits, one call on each lane; returns the order they finished in. */
  async function race(kind: 'api' | 'search', policy: Parameters<typeof limited>[0], retryAfterMs: number) {
    const b = budget({ windowMs: 200 });
    let n = 0;
    const order: string[] = [];
    const started = Date.now();
    const first = b.run(kind, 'incremental', async () => (n++ === 0 ? limited(policy, retryAfterMs) : ok(n))).then((r) => {
      order.push('limited');
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    const pausedUntil = b.pausedUntil();
    await Promise.all([
      first,
      b.run('api', 'incremental', async () => ok(1)).then(() => order.push('api')),
      b.run('search', 'incremental', async () => ok(1)).then(() => order.push('search')),
    ]);
    return { order, waited: Date.now() - started, result: await first, pausedUntil };
  }

  it('TEN_SECONDLY_ROLLING pauses ordinary calls, not searches', async () => {
    const { order, waited, result, pausedUntil } = await race('api', 'TEN_SECONDLY_ROLLING', 150);
    expect(result).toEqual({ ok: true, value: 2 });
    expect(pausedUntil).toBeGreaterThan(Date.now() - 200);
    expect(order.indexOf('search')).toBeLessThan(order.indexOf('limited'));
    expect(order.indexOf('api')).toBeGreaterThan(order.indexOf('search'));
    expect(waited).toBeGreaterThanOrEqual(140);
  });

  it('SECONDLY on a search pauses searches only', async () => {
    const { order, result, pausedUntil } = await race('search', 'SECONDLY', 150);
    expect(result).toEqual({ ok: true, value: 2 });
    expect(pausedUntil).toBeUndefined();
    expect(order.indexOf('api')).toBeLessThan(order.indexOf('limited'));
  });

  it('SECONDLY on an ordinary call pauses ordinary calls, not searches', async () => {
    const { order, result, pausedUntil } = await race('api', 'SECONDLY', 150);
    expect(result).toEqual({ ok: true, value: 2 });
    expect(pausedUntil).toBeDefined();
    expect(order.indexOf('search')).toBeLessThan(order.indexOf('limited'));
  });

  it('DAILY pauses the whole account until midnight in its time zone', async () => {
    // 23:59:59.9 in UTC: midnight is 100 ms away.
    const midnight = Date.UTC(2026, 11, 6);
    const start = Date.now();
    const pauses: { scope: string; policy: string; untilMs: number }[] = [];
    const b = budget({ now: () => midnight - 100 + (Date.now() - start), onPause: (p) => pauses.push(p) });
    let n = 0;
    const first = b.run('api', 'incremental', async () => (n++ === 0 ? limited('DAILY') : ok(n)));
    await new Promise((r) => setTimeout(r, 20));
    expect(pauses).toEqual([{ scope: 'account', policy: 'DAILY', untilMs: midnight }]);
    const searched: number[] = [];
    const search = b.run('search', 'incremental', async () => ok(searched.push(Date.now() - start)));
    expect(await first).toEqual({ ok: true, value: 2 });
    await search;
    expect(searched[0]).toBeGreaterThanOrEqual(90);
  });

  it('waits at least the floor between 429s, however short Retry-After says, doubling with each', async () => {
    const b = budget({ floor429Ms: 40 });
    const at: number[] = [];
    const r = await b.run('api', 'incremental', async () => (at.push(Date.now()), at.length <= 3 ? limited('TEN_SECONDLY_ROLLING', 0) : ok(at.length)));
    expect(r).toEqual({ ok: true, value: 4 });
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(38);
    expect(gaps[1]).toBeGreaterThanOrEqual(78);
    expect(gaps[2]).toBeGreaterThanOrEqual(158);
  });

  it('gives up after max429Retries consecutive 429s, as a value the caller can retry later', async () => {
    const b = budget({ max429Retries: 3, floor429Ms: 1 });
    const stats = { calls: 0, rateLimited: 0 };
    const r = await b.run('api', 'incremental', async () => limited('SECONDLY', 0), { stats });
    expect(r).toMatchObject({ ok: false, failure: 'rate_limited', status: 429 });
    expect(stats).toEqual({ calls: 3, rateLimited: 3 });
  });

  it('stops for the day at its share of the daily limit, counting searches, before HubSpot answers 429', async () => {
    // 19:00 UTC: five hours to midnight, scaled to 180 ms.
    let clock = Date.UTC(2026, 11, 5, 19);
    const pauses: { policy: string; untilMs: number }[] = [];
    const b = budget({ budgetShare: 0.5, timeScale: 1e-5, now: () => clock, onPause: (p) => pauses.push(p) });
    const daily = (remaining: number) => ({ 'x-hubspot-ratelimit-daily': '10', 'x-hubspot-ratelimit-daily-remaining': String(remaining) });
    await b.run('api', 'incremental', async () => ok(1, daily(7)));
    expect(b.dailyRemaining()).toBe(7);
    // Two searches (no headers) still count: 5 left, which is the other integrations' half of 10.
    await b.run('search', 'incremental', async () => ok(2));
    await b.run('search', 'incremental', async () => ok(3));
    expect(b.dailyRemaining()).toBe(5);
    expect(pauses).toEqual([]);
    const calls: number[] = [];
    const next = b.run('api', 'incremental', async () => {
      calls.push(clock);
      return ok(4, daily(9));
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([]);
    expect(pauses).toEqual([{ scope: 'account', policy: 'DAILY', untilMs: clock + 5 * 3_600_000 * 1e-5 }]);
    expect(b.pausedUntil()).toBe(pauses[0]!.untilMs);
    // After the reset the call goes out, and the new day's count comes from its answer.
    clock = pauses[0]!.untilMs;
    expect(await next).toEqual({ ok: true, value: 4 });
    expect(b.dailyRemaining()).toBe(9);
  });

  it("does not carry yesterday's daily count past midnight", async () => {
    // The call that uses up the share is answered a minute before midnight; the next one comes after it.
    let clock = Date.UTC(2026, 11, 5, 23, 59);
    const pauses: unknown[] = [];
    const b = budget({ budgetShare: 0.5, now: () => clock, onPause: (p) => pauses.push(p) });
    await b.run('api', 'incremental', async () => ok(1, { 'x-hubspot-ratelimit-daily': '10', 'x-hubspot-ratelimit-daily-remaining': '5' }));
    expect(b.dailyRemaining()).toBe(5);
    clock = Date.UTC(2026, 11, 6, 0, 1);
    expect(b.dailyRemaining()).toBeUndefined();
    expect(await b.run('api', 'incremental', async () => ok(2))).toEqual({ ok: true, value: 2 });
    expect(pauses).toEqual([]);
  });

  it('stops waiting calls when closed or aborted', async () => {
    const b = budget({ windowLimit: 1, windowMs: 10_000 });
    await b.run('api', 'incremental', async () => ok(1));
    const controller = new AbortController();
    const waiting = b.run('api', 'incremental', async () => ok(2), { signal: controller.signal });
    controller.abort();
    expect(await waiting).toMatchObject({ ok: false, failure: 'aborted' });
    const other = b.run('api', 'incremental', async () => ok(3));
    b.close();
    expect(await other).toMatchObject({ ok: false, failure: 'aborted' });
  });

  it('an attempt that fails after the budget closed ends the call without announcing a retry', async () => {
    const warnings: string[] = [];
    const logged = pino({ level: 'warn' }, { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const b = budget({ log: logged });
    const out = deferred();
    const call = b.run('api', 'incremental', async (): Promise<CallOutcome<number>> => {
      await out.promise;
      return { ok: false, failure: 'network', message: 'socket hang up' };
    });
    await new Promise((r) => setTimeout(r, 5));
    b.close();
    out.resolve();
    expect(await call).toMatchObject({ ok: false, failure: 'aborted' });
    expect(warnings).toEqual([]);
  });

  it('ends a retry waiting out its backoff when closed or aborted, not when the backoff is over', async () => {
    // A backoff of a minute: only the close or the abort can end these waits within the test's time.
    const b = budget({ backoffBaseMs: 60_000, backoffMaxMs: 60_000 });
    const down = async (): Promise<CallOutcome<number>> => ({ ok: false, failure: 'server', status: 503, headers: {}, message: 'down' });
    let attempts = 0;
    const counted = async () => {
      attempts++;
      return down();
    };
    const controller = new AbortController();
    const aborted = b.run('api', 'incremental', counted, { signal: controller.signal });
    const closed = b.run('api', 'incremental', counted);
    while (attempts < 2) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    expect(await aborted).toMatchObject({ ok: false, failure: 'aborted' });
    b.close();
    expect(await closed).toMatchObject({ ok: false, failure: 'aborted' });
    expect(attempts).toBe(2);
  });
});
