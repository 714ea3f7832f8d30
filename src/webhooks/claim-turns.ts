/**
 * Turns to claim for the lanes of one processor (see `ClaimTurn`): claims run one at a time, and
 * each starts walking the queue after the last id the other lanes' batches hold, so it does not
 * step over their locked events. Events the walk would then pass over below that id (stored by a
 * request that committed late, due again after a retry's wait) are reached when a walk comes back
 * short and fills its batch from the front, and at least every `frontEveryMs` under a steady
 * backlog, when a claim starts at the front whatever the others hold.
 */
import type { ClaimTurn } from './processor.ts';

/** How often a claim starts at the front of the queue however busy the lanes are. */
const FRONT_EVERY_MS = 1_000;

interface ClaimTurns {
  /** The turn of lane `lane`, for one batch. */
  turn(lane: number): ClaimTurn;
  /** Lane `lane`'s batch is over: it holds nothing now. */
  done(lane: number): void;
}

export function claimTurns(now: () => number, frontEveryMs = FRONT_EVERY_MS): ClaimTurns {
  /** The last id each lane's batch in flight claimed. */
  const holding = new Map<number, number>();
  /** Settles when the claim running now returns. */
  let claiming = Promise.resolve();
  let frontAt = Number.NEGATIVE_INFINITY;
  return {
    turn(lane) {
      let release = () => {};
      return {
        async begin() {
          const before = claiming;
          claiming = new Promise<void>((resolve) => (release = resolve));
          await before;
          const others = Math.max(0, ...[...holding].filter(([other]) => other !== lane).map(([, last]) => last));
          if (others === 0 || now() - frontAt >= frontEveryMs) {
            frontAt = now();
            return 0;
          }
          return others;
        },
        took(ids) {
          // A loop, not Math.max(...ids): a large batch would pass too many arguments.
          let last = 0;
          for (const id of ids) if (id > last) last = id;
          if (last > 0) holding.set(lane, last);
          release();
        },
      };
    },
    done(lane) {
      holding.delete(lane);
    },
  };
}
