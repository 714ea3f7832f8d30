import { describe, expect, it } from 'vitest';
import { floodWatch, loadPayload, receiverLoad, restAfter } from '../../../src/webhooks/flood.ts';

describe("a receiver's busy share", () => {
  it('is the share of the last completed quarter second with a request in hand, overlapping requests counted once', () => {
    let t = 0;
    const load = receiverLoad(() => t);
    expect(load.busy()).toBe(0);
    load.enter(); // 0–100 ms: one request
    t = 50;
    load.enter(); // 50–150 ms: a second one overlapping it
    t = 100;
    load.leave();
    t = 150;
    load.leave();
    t = 225;
    expect(load.busy()).toBe(0); // the window is not over: the last completed one (none yet) stands
    t = 250;
    expect(load.busy()).toBeCloseTo(0.6);
    t = 375;
    expect(load.busy()).toBeCloseTo(0.6);
  });

  it('counts a request still in hand up to the end of the window, and the rest of it in the next', () => {
    let t = 0;
    const load = receiverLoad(() => t);
    t = 50;
    load.enter();
    t = 250;
    expect(load.busy()).toBeCloseTo(0.8);
    t = 375;
    load.leave();
    t = 500;
    expect(load.busy()).toBeCloseTo(0.5);
    t = 1_250; // idle since: three windows without a request
    expect(load.busy()).toBe(0);
  });
});

describe("the worker's view of a flood", () => {
  it('is flooded for a second after a report of a receiver busy half the time or more', () => {
    let t = 0;
    const watch = floodWatch(() => t);
    watch.heard(loadPayload(0.49));
    expect(watch.flooded()).toBe(false);
    watch.heard(loadPayload(0.5));
    expect(watch.flooded()).toBe(true);
    t = 999;
    expect(watch.flooded()).toBe(true);
    t = 1_000;
    expect(watch.flooded()).toBe(false);
  });

  it('takes nothing else for a report: empty, malformed or foreign payloads say nothing', () => {
    const watch = floodWatch(() => 0);
    for (const payload of ['', 'busy=', 'busy=high', 'busy=0.9.1', ' busy=0.9', 'busy=0.9;x', '{"busy":0.9}', 'busy=-1']) watch.heard(payload);
    expect(watch.flooded()).toBe(false);
  });

  it('rests so that work is the given share of the time', () => {
    expect(restAfter(100, 0.25)).toBe(300);
    expect(restAfter(100, 0.5)).toBe(100);
    expect(restAfter(100, 1)).toBe(0);
    // A batch that waited on HubSpot reads for 30 s rests no more than a second.
    expect(restAfter(30_000, 0.25)).toBe(1_000);
  });
});
