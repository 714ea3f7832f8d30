import { describe, expect, it } from 'vitest';
import { claimTurns } from '../../../src/webhooks/claim-turns.ts';

/** One batch's claim on `lane`: where its turn said to start; it then took `ids`. */
async function claim(turns: ReturnType<typeof claimTurns>, lane: number, ids: number[] = []): Promise<number> {
  const turn = turns.turn(lane);
  const after = await turn.begin();
  turn.took(ids);
  return after;
}

describe("the lanes' turns to claim", () => {
  it('start after the last id the other lanes hold, from the front when they hold nothing or once a front walk is due', async () => {
    let t = 0;
    const turns = claimTurns(() => t, 1_000);
    expect(await claim(turns, 0, [5, 9, 7])).toBe(0);
    // Its own batch does not count; the other lane's does.
    t = 10;
    expect(await claim(turns, 1, [10, 12])).toBe(9);
    expect(await claim(turns, 0)).toBe(12);
    // A second after the last walk from the front, the next starts there whatever the others hold.
    t = 1_000;
    expect(await claim(turns, 0, [1])).toBe(0);
    t = 1_010;
    expect(await claim(turns, 0)).toBe(12);
    // Lane 1's batch is over: nothing held beside lane 0's, so from the front.
    turns.done(1);
    expect(await claim(turns, 0)).toBe(0);
  });

  it('takes the last id of a batch of any size', async () => {
    const turns = claimTurns(() => 0);
    await claim(turns, 0, Array.from({ length: 300_000 }, (_, i) => 300_000 - i));
    expect(await claim(turns, 1)).toBe(300_000);
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
