/**
 * How hard the outbox may push Paragon right now: a pause circuit (while Paragon throttles or is
 * unreachable, nothing is claimed) and a window of requests in flight. Pure state: time and
 * randomness are parameters.
 */
import { backoffMs } from '../loop.ts';
import type { DeliveryResult, RetryPolicy } from './policy.ts';

type Transient = Extract<DeliveryResult, { kind: 'transient' }>;

export class DeliveryFlow {
  readonly #concurrency: number;
  readonly #backoff: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>;
  /**
   * Requests allowed in flight, between 1 and `concurrency`: halved on every 429, grown by one per
   * full window of successes (AIMD, as TCP does), so a throttled loop settles just under Paragon's
   * rate instead of bursting into it after every pause.
   */
  #window: number;
  #pausedUntil = 0;
  /** Transient failures since the last success. */
  #streak = 0;

  constructor(concurrency: number, backoff: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>) {
    this.#concurrency = concurrency;
    this.#backoff = backoff;
    this.#window = concurrency;
  }

  /** Requests that may be in flight now (at least one). */
  get window(): number {
    return Math.floor(this.#window);
  }

  /** How long sending must still wait, in ms (0: go). */
  pausedFor(nowMs: number): number {
    return Math.max(0, this.#pausedUntil - nowMs);
  }

  /** A delivery succeeded: widen the window. Returns how many transient failures in a row it ends (0: none). */
  sent(): number {
    this.#window = Math.min(this.#concurrency, this.#window + 1 / Math.floor(this.#window));
    const ended = this.#streak;
    this.#streak = 0;
    return ended;
  }

  /**
   * A delivery failed for Paragon's or the network's reasons: narrow the window on a 429 and pause
   * everything for `Retry-After` (up to the backoff maximum) or a growing backoff. Returns the pause
   * and whether it starts one (false when it only extends a pause already running).
   */
  transient(result: Transient, nowMs: number, random: number): { pauseMs: number; starts: boolean } {
    if (result.throttled) this.#window = Math.max(1, this.#window / 2);
    this.#streak++;
    const pauseMs = result.retryAfterMs !== undefined ? Math.min(result.retryAfterMs, this.#backoff.backoffMaxMs) : backoffMs(this.#streak, this.#backoff.backoffBaseMs, this.#backoff.backoffMaxMs, random);
    const until = nowMs + pauseMs;
    const starts = this.#pausedUntil <= nowMs && until > this.#pausedUntil;
    this.#pausedUntil = Math.max(this.#pausedUntil, until);
    return { pauseMs, starts };
  }
}
