import { describe, expect, it } from 'vitest';
import { inBatches, loopLifecycle, sleep } from '../../../src/loop.ts';

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
