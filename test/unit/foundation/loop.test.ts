import { describe, expect, it } from 'vitest';
import { failureBackoff, inBatches, loopLifecycle, sleep } from '../../../src/loop.ts';

describe('loopLifecycle', () => {
  it('runs the body once however often it is started; stop ends its sleep at once and waits for it', async () => {
    let rounds = 0;
    let runs = 0;
    const lifecycle = loopLifecycle(async (control) => {
      runs++;
      while (!control.stopping) {
        rounds++;
        await sleep(60_000, control.signal);
      }
    });
    await lifecycle.start();
    await lifecycle.start();
    // Were the minute's sleep not cut short, this would outlast the test's timeout.
    await lifecycle.stop();
    expect([runs, rounds]).toEqual([1, 1]);
    expect(lifecycle.control.stopping).toBe(false);
    await lifecycle.start();
    await lifecycle.stop();
    expect([runs, rounds]).toEqual([2, 2]);
  });

  it('stop on a loop never started, or one that already returned, resolves', async () => {
    const lifecycle = loopLifecycle(async () => undefined);
    await lifecycle.stop();
    await lifecycle.start();
    await lifecycle.stop();
  });
});

describe('inBatches', () => {
  it('repeats a step until it handles less than a batch, or until told to stop', async () => {
    let left = 23;
    const step = async (limit: number) => {
      const n = Math.min(limit, left);
      left -= n;
      return n;
    };
    expect(await inBatches(step, 10)).toBe(23);
    left = 50;
    let steps = 0;
    expect(await inBatches(async (limit) => (steps++, step(limit)), 10, () => steps >= 2)).toBe(20);
  });
});

describe('failureBackoff', () => {
  function logged() {
    const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
    const at = (level: string) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, fields, msg });
    return { lines, log: { error: at('error'), warn: at('warn'), info: at('info') } as never };
  }

  it('waits longer after each failure, with jitter, and logs only when failures start and when they end', () => {
    const { lines, log } = logged();
    let now = 1_000;
    const backoff = failureBackoff({ log, what: 'webhook processing', baseMs: 250, maxMs: 30_000, now: () => now, random: () => 0.5 });
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      waits.push(backoff.failed(new Error('connect ECONNREFUSED')));
      now += waits.at(-1)!;
    }
    // Equal jitter: three quarters of a step that doubles from 250 ms and stops at 30 s.
    expect(waits).toEqual([188, 375, 750, 1500, 3000, 6000, 12000, 22500, 22500, 22500, 22500, 22500]);
    expect(backoff.failures).toBe(12);
    backoff.succeeded();
    backoff.succeeded();
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'webhook processing failed; retrying with backoff until it recovers'],
      ['info', 'webhook processing recovered'],
    ]);
    expect(lines[1]!.fields).toEqual({ failedAttempts: 12, failingForMs: waits.slice(0, 11).reduce((a, b) => a + b, 0) + waits[11]! });
    // The next failure starts a new run: one more line, and the wait starts small again.
    expect(backoff.failed(new Error('again'))).toBe(188);
    expect(lines).toHaveLength(3);
  });

  it('keeps every wait between half a step and a step, whatever the randomness', () => {
    const { log } = logged();
    for (const r of [0, 0.25, 0.999]) {
      const backoff = failureBackoff({ log, what: 'x', baseMs: 1000, maxMs: 8000, random: () => r });
      for (let n = 1; n <= 6; n++) {
        const step = Math.min(8000, 1000 * 2 ** (n - 1));
        const wait = backoff.failed(new Error('x'));
        expect(wait).toBeGreaterThanOrEqual(step / 2);
        expect(wait).toBeLessThanOrEqual(step);
      }
    }
  });
});
