import { describe, expect, it } from 'vitest';
import { claimTurns } from '../../../src/webhooks/claim-turns.ts';

describe("the lanes' turns to claim", () => {
  it('start after the last id the other lanes hold, from the front when they hold nothing or once a front walk is due', async () => {
    let t = 0;
    const turns = claimTurns(() => t, 1_000);
    const first = turns.turn(0);
    expect(await first.begin()).toBe(0);
    first.took([5, 9, 7]);
    // Its own batch does not count; the other lane's does.
    t = 10;
    const second = turns.turn(1);
    expect(await second.begin()).toBe(9);
    second.took([10, 12]);
    const again = turns.turn(0);
    expect(await again.begin()).toBe(12);
    again.took([]);
    // A second after the last walk from the front, the next starts there whatever the others hold.
    t = 1_000;
    const front = turns.turn(0);
    expect(await front.begin()).toBe(0);
    front.took([1]);
    t = 1_010;
    const after = turns.turn(0);
    expect(await after.begin()).toBe(12);
    after.took([]);
    // Lane 1's batch is over: nothing held beside lane 0's, so from the front.
    turns.done(1);
    const alone = turns.turn(0);
    expect(await alone.begin()).toBe(0);
    alone.took([]);
  });

  it('takes the last id of a batch of any size', async () => {
    const turns = claimTurns(() => 0);
    const big = turns.turn(0);
    await big.begin();
    big.took(Array.from({ length: 300_000 }, (_, i) => 300_000 - i));
    const next = turns.turn(1);
    expect(await next.begin()).toBe(300_000);
    next.took([]);
  });

  it('one at a time: a claim starts once the one before it has returned, or failed', async () => {
    const turns = claimTurns(() => 0);
    const a = turns.turn(0);
    await a.begin();
    const order: string[] = [];
    const b = turns.turn(1);
    const bStarted = b.begin().then((after) => order.push(`b after ${after}`));
    const cStarted = turns.turn(2).begin().then((after) => order.push(`c after ${after}`));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual([]);
    a.took([40]);
    await bStarted;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual(['b after 40']);
    // b's claim fails: it took nothing, and c goes on.
    b.took([]);
    await cStarted;
    expect(order).toEqual(['b after 40', 'c after 40']);
  });
});
