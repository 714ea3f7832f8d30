import type { Clock } from '../hubspot/clock.ts';
import type { Rng } from '../hubspot/random.ts';

/** A permanent refusal: App Events matching it get this 4xx. */
export interface RejectRule {
  name?: string;
  userId?: string;
  status: number;
  message?: string;
}

/** What can go wrong with App Events; every field is settable at runtime through the control API. */
export interface AppEventFaults {
  /** Accepted App Events per sandbox second (wall rate = rate / timeScale); beyond it, 429. 0: unlimited. */
  ratePerSecond: number;
  /** Extra 429s at random, whatever the rate. */
  throttleProbability: number;
  /** `Retry-After` (sandbox seconds) on the random 429s; rate-limit 429s say when the next slot frees. */
  retryAfterSeconds: number;
  /** 5xx at random. */
  errorProbability: number;
  errorStatus: number;
  /** Added to every App Event request (sandbox ms). */
  latencyMs: number;
  /** Until this epoch ms every App Event request fails, by resetting the connection or answering 503. */
  outageUntil: number;
  outageMode: 'reset' | '503';
  reject: RejectRule[];
}

export const DEFAULT_FAULTS: AppEventFaults = {
  ratePerSecond: 0,
  throttleProbability: 0,
  retryAfterSeconds: 1,
  errorProbability: 0,
  errorStatus: 500,
  latencyMs: 0,
  outageUntil: 0,
  outageMode: 'reset',
  reject: [],
};

export type Admission =
  | { kind: 'accept' }
  | { kind: 'outage'; mode: 'reset' | '503' }
  | { kind: 'throttle'; retryAfterMs: number }
  | { kind: 'error'; status: number }
  | { kind: 'reject'; status: number; message: string };

/**
 * Decides each App Event's fate. The rate limit is a token bucket holding one second of events,
 * refilled continuously, so a steady sender at or under the rate never sees a 429.
 */
export class AppEventGate {
  faults: AppEventFaults;
  readonly #clock: Clock;
  readonly #rng: Rng;
  #tokens = 0;
  #refilledAt = 0;

  constructor(clock: Clock, rng: Rng, faults: Partial<AppEventFaults> = {}) {
    this.#clock = clock;
    this.#rng = rng;
    this.faults = { ...DEFAULT_FAULTS, ...faults };
    this.#tokens = this.#capacity();
    this.#refilledAt = clock.now();
  }

  set(faults: Partial<AppEventFaults>): AppEventFaults {
    const rateChanged = faults.ratePerSecond !== undefined && faults.ratePerSecond !== this.faults.ratePerSecond;
    this.faults = { ...this.faults, ...faults };
    if (rateChanged) {
      this.#tokens = this.#capacity();
      this.#refilledAt = this.#clock.now();
    }
    return this.faults;
  }

  /** An outage of `durationMs` sandbox ms starting now. */
  outage(durationMs: number, mode: 'reset' | '503' = 'reset'): void {
    this.faults = { ...this.faults, outageUntil: this.#clock.now() + this.#clock.scale(durationMs), outageMode: mode };
  }

  admit(event: { name: string; userId: string }): Admission {
    const f = this.faults;
    const now = this.#clock.now();
    if (now < f.outageUntil) return { kind: 'outage', mode: f.outageMode };
    if (this.#rng.chance(f.errorProbability)) return { kind: 'error', status: f.errorStatus };
    if (this.#rng.chance(f.throttleProbability)) return { kind: 'throttle', retryAfterMs: this.#clock.scale(f.retryAfterSeconds * 1000) };
    const rule = f.reject.find((r) => (r.name === undefined || r.name === event.name) && (r.userId === undefined || r.userId === event.userId));
    if (rule) return { kind: 'reject', status: rule.status, message: rule.message ?? 'Event rejected' };
    if (f.ratePerSecond > 0) {
      const perMs = f.ratePerSecond / this.#clock.scale(1000);
      this.#tokens = Math.min(this.#capacity(), this.#tokens + (now - this.#refilledAt) * perMs);
      this.#refilledAt = now;
      if (this.#tokens < 1) return { kind: 'throttle', retryAfterMs: Math.max(1, Math.ceil((1 - this.#tokens) / perMs)) };
      this.#tokens -= 1;
    }
    return { kind: 'accept' };
  }

  #capacity(): number {
    // A tenth of a second of burst: a steady sender at the rate never waits, a flood is cut at once.
    return Math.max(1, this.faults.ratePerSecond / 10);
  }
}
