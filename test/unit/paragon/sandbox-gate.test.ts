import { describe, expect, it } from 'vitest';
import { createClock } from '../../../src/sandbox/hubspot/clock.ts';
import { createRng } from '../../../src/sandbox/hubspot/random.ts';
import { AppEventGate } from '../../../src/sandbox/paragon/faults.ts';

function gate(now: { t: number }, timeScale = 1) {
  return new AppEventGate(createClock(timeScale, () => now.t), createRng(1));
}
const ev = { name: 'Contact Created', userId: 'u' };

describe('the sandbox App Event gate', () => {
  it('admits a steady sender at the rate and answers 429 with the wait beyond it', () => {
    const now = { t: 1_000_000 };
    const g = gate(now);
    g.set({ ratePerSecond: 100 });
    // A tenth of a second of burst, then one every 10 ms.
    const burst = Array.from({ length: 12 }, () => g.admit(ev).kind);
    expect(burst.filter((k) => k === 'accept')).toHaveLength(10);
    expect(g.admit(ev)).toEqual({ kind: 'throttle', retryAfterMs: 10 });
    let accepted = 0;
    for (let i = 0; i < 1000; i++) {
      now.t += 10;
      if (g.admit(ev).kind === 'accept') accepted++;
    }
    expect(accepted).toBe(1000);
  });

  it('scales the rate with the time scale', () => {
    const now = { t: 0 };
    const g = gate(now, 0.1);
    g.set({ ratePerSecond: 10 });
    g.admit(ev);
    now.t += 10; // 100 sandbox ms
    expect(g.admit(ev).kind).toBe('accept');
  });

  it('fails everything during an outage, then recovers', () => {
    const now = { t: 0 };
    const g = gate(now);
    g.outage(5_000, '503');
    expect(g.admit(ev)).toEqual({ kind: 'outage', mode: '503' });
    now.t += 5_000;
    expect(g.admit(ev)).toEqual({ kind: 'accept' });
  });

  it('refuses matching events with their 4xx', () => {
    const g = gate({ t: 0 });
    g.set({ reject: [{ name: 'Contact Created', userId: 'bad', status: 422 }] });
    expect(g.admit({ name: 'Contact Created', userId: 'bad' })).toMatchObject({ kind: 'reject', status: 422 });
    expect(g.admit({ name: 'Contact Created', userId: 'ok' }).kind).toBe('accept');
  });
});
