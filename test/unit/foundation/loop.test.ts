import { describe, expect, it } from 'vitest';
import { loopLifecycle, sleep } from '../../../src/loop.ts';

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
