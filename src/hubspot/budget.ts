/**
 * One rate budget per HubSpot account, shared by every caller in the process (polling, webhook
 * hydration, backfills). Calls are admitted in priority order through p-queue and only when the
 * rolling 10-second window (or the per-second Search window) has room, counting calls still in
 * flight; the live X-HubSpot-RateLimit-* headers narrow the window; a 429 pauses the account;
 * 5xx and network failures are retried with exponential backoff and full jitter.
 */
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.ts';
import type { CallOutcome, CallResult } from './outcome.ts';
import { nextMidnight, parseRateHeaders, pauseFor429, type LimitPolicy, type Pause } from './limits.ts';
import type { Priority } from './objects.ts';

export type CallKind = 'api' | 'search';

export interface BudgetOptions {
  portalId: number;
  /** Calls per window the token allows (the tier's, or the configured override). */
  windowLimit: number;
  windowMs: number;
  dailyLimit: number | null;
  searchPerSecond: number;
  /** Share of the window hubsync may use. */
  budgetShare: number;
  timeZone: string;
  /** Scales every duration the budget assumes (windows, the day); 1 in production. */
  timeScale?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  log: Logger;
  metrics?: Metrics;
  now?: () => number;
  random?: () => number;
  /**
   * Upper bound on how long after we send a call HubSpot counts it. A call occupies its window slot
   * from min(its completion, sending + this): completion is always safe, and this keeps a slow
   * response from holding a slot it was never counted in. Default 50 ms.
   */
  arrivalMarginMs?: number;
  /** Called when a 429 pauses the account (to persist daily pauses). */
  onPause?: (pause: Pause) => void;
}

/** Per-run tallies a caller can pass in to learn what its calls cost. */
export interface CallStats {
  calls: number;
  rateLimited: number;
}

const PRIORITY: Readonly<Record<Priority, number>> = { hydration: 2, incremental: 1, backfill: 0 };

interface Lane {
  queue: PQueue;
  /** Completion times of calls inside the rolling window. */
  done: number[];
  inFlight: number;
  windowMs: number;
  limit: number;
  pausedUntil: number;
  /** The arrival margin in use: doubled after each 429 this lane runs into (self-tuning). */
  marginMs: number;
}

interface DailyCount {
  remaining: number;
  max: number | undefined;
  sentSince: number;
  resetAt: number;
}

export class AccountBudget {
  readonly portalId: number;
  readonly #o: Required<Omit<BudgetOptions, 'metrics' | 'onPause'>> & Pick<BudgetOptions, 'metrics' | 'onPause'>;
  readonly #api: Lane;
  readonly #search: Lane;
  #accountPausedUntil = 0;
  /** Server's Remaining at the last response, less what we sent since. */
  #hint: { remaining: number; atMs: number; sentSince: number; inFlightAt: number } | undefined;
  /** The daily count from the last headers that carried it, the calls sent since, and when the day it counts ends. */
  #daily: DailyCount | undefined;
  #wake: (() => void)[] = [];
  #closed = false;

  constructor(options: BudgetOptions) {
    const o = {
      timeScale: 1,
      maxAttempts: 6,
      backoffBaseMs: 500,
      backoffMaxMs: 30_000,
      arrivalMarginMs: 50,
      now: Date.now,
      random: Math.random,
      ...options,
    };
    this.#o = o;
    this.portalId = o.portalId;
    this.#api = lane(Math.max(1, Math.floor(o.windowLimit * o.budgetShare)), o.windowMs * o.timeScale, o.arrivalMarginMs);
    // Search has no headers to share with others and its own small limit: use all of it.
    this.#search = lane(o.searchPerSecond, 1000 * o.timeScale, o.arrivalMarginMs);
    const labels = { portalId: o.portalId };
    o.metrics?.gaugeFn('hubspot.budget.window_remaining', () => this.windowRemaining(), labels);
    o.metrics?.gaugeFn('hubspot.budget.daily_remaining', () => this.dailyRemaining(), labels);
    o.metrics?.gaugeFn('hubspot.budget.queued', () => this.#api.queue.size + this.#search.queue.size, labels);
  }

  /** Calls still allowed in the current 10-second window (ours, narrowed by the last headers). */
  windowRemaining(): number {
    return Math.max(0, this.#capacity(this.#api, this.#o.now()));
  }

  /** Calls left today by the last headers, less those sent since; undefined before any header said. */
  dailyRemaining(): number | undefined {
    const daily = this.#today();
    return daily ? Math.max(0, daily.remaining - daily.sentSince) : undefined;
  }

  /** The daily count, unless the day it counted has ended (its midnight passed without a pause). */
  #today(): DailyCount | undefined {
    if (this.#daily && this.#o.now() >= this.#daily.resetAt) this.#daily = undefined;
    return this.#daily;
  }

  /** When the account is paused by a 429, until when (epoch ms); else undefined. */
  pausedUntil(): number | undefined {
    return this.#accountPausedUntil > this.#o.now() ? this.#accountPausedUntil : undefined;
  }

  /** Restores a pause remembered from an earlier run (the daily limit). */
  restorePause(untilMs: number): void {
    this.#accountPausedUntil = Math.max(this.#accountPausedUntil, untilMs);
  }

  /**
   * Runs one HubSpot call under the budget, retrying 429s (after the pause they imply) and 5xx or
   * network failures (backoff, up to `maxAttempts`). Client errors come back at once as values.
   */
  async run<T>(kind: CallKind, priority: Priority, call: () => Promise<CallOutcome<T>>, opts: { signal?: AbortSignal; stats?: CallStats } = {}): Promise<CallResult<T>> {
    const l = kind === 'search' ? this.#search : this.#api;
    let failures = 0;
    for (;;) {
      if (opts.signal?.aborted || this.#closed) return { ok: false, failure: 'aborted', message: 'stopped' };
      await l.queue.add(() => this.#admit(l, opts.signal), { priority: PRIORITY[priority] });
      const sentAt = this.#o.now();
      if (opts.signal?.aborted || this.#closed) {
        this.#release(l, sentAt);
        return { ok: false, failure: 'aborted', message: 'stopped' };
      }
      let outcome: CallOutcome<T>;
      try {
        outcome = await call();
      } catch (err) {
        outcome = { ok: false, failure: 'network', message: err instanceof Error ? err.message : String(err) };
      }
      const now = this.#o.now();
      this.#release(l, Math.min(now, sentAt + l.marginMs));
      if (opts.stats) opts.stats.calls += 1;
      this.#o.metrics?.count('hubspot.api.calls', 1, { portalId: this.portalId, kind });
      if ('headers' in outcome && outcome.headers) this.#observeHeaders(outcome.headers, now);
      if (outcome.ok) return { ok: true, value: outcome.value };
      if (outcome.failure === 'rate_limited') {
        if (opts.stats) opts.stats.rateLimited += 1;
        // HubSpot answered: the 5xx streak is over, and 429s are retried for as long as they last.
        failures = 0;
        this.#on429(kind, outcome.policy, outcome.retryAfterMs, now);
        continue;
      }
      if (outcome.failure === 'client') return outcome;
      failures += 1;
      this.#o.metrics?.count('hubspot.api.errors', 1, { portalId: this.portalId, failure: outcome.failure });
      if (failures >= this.#o.maxAttempts) return outcome;
      const delay = this.#backoff(failures);
      this.#o.log.warn({ portalId: this.portalId, failure: outcome.failure, status: 'status' in outcome ? outcome.status : undefined, attempt: failures, delayMs: Math.round(delay) }, 'HubSpot call failed: retrying');
      if (!(await this.#sleep(delay, opts.signal))) return { ok: false, failure: 'aborted', message: 'stopped' };
    }
  }

  /** Stops admitting calls; waiters return `aborted`. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }

  #backoff(failures: number): number {
    const cap = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** (failures - 1)) * this.#o.timeScale;
    return cap / 2 + (this.#o.random() * cap) / 2;
  }

  /** Waits (inside the lane's single admission slot, so priorities hold) until a call may start. */
  async #admit(l: Lane, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      if (this.#closed || signal?.aborted) break;
      const now = this.#o.now();
      const pausedUntil = Math.max(this.#accountPausedUntil, l.pausedUntil);
      if (pausedUntil > now) {
        await this.#sleep(pausedUntil - now, signal);
        continue;
      }
      if (this.#dailyShareUsed()) {
        this.#pauseForTheDay(now);
        continue;
      }
      prune(l, now);
      if (this.#capacity(l, now) > 0) break;
      // Full: the oldest completion leaving the window frees a slot; a call finishing may too.
      const oldest = l.done[0];
      const waitMs = oldest === undefined ? l.windowMs : oldest + l.windowMs - now + 1;
      await this.#sleep(Math.max(1, waitMs), signal, true);
    }
    l.inFlight += 1;
    // Searches count towards the daily limit too, though their answers carry no headers.
    if (this.#daily) this.#daily.sentSince += 1;
    if (l === this.#api && this.#hint) this.#hint.sentSince += 1;
  }

  #capacity(l: Lane, now: number): number {
    prune(l, now);
    let free = l.limit - l.done.length - l.inFlight;
    if (l === this.#api && this.#hint && now - this.#hint.atMs < l.windowMs) {
      free = Math.min(free, this.#hint.remaining - this.#hint.sentSince - this.#hint.inFlightAt);
    }
    return free;
  }

  #release(l: Lane, countedAt: number): void {
    l.inFlight = Math.max(0, l.inFlight - 1);
    // Kept sorted: with the arrival margin, a later release can carry an earlier time.
    let i = l.done.length;
    while (i > 0 && (l.done[i - 1] ?? 0) > countedAt) i--;
    l.done.splice(i, 0, countedAt);
    this.#notify();
  }

  #observeHeaders(headers: Readonly<Record<string, string>>, now: number): void {
    const h = parseRateHeaders(headers);
    if (h.intervalMs !== undefined && h.intervalMs > 0) this.#api.windowMs = h.intervalMs;
    if (h.max !== undefined && h.max > 0) this.#api.limit = Math.max(1, Math.floor(h.max * this.#o.budgetShare));
    if (h.remaining !== undefined && h.max !== undefined) {
      // Leave the other integrations' share of the token untouched.
      const reserve = h.max - Math.floor(h.max * this.#o.budgetShare);
      this.#hint = { remaining: h.remaining - reserve, atMs: now, sentSince: 0, inFlightAt: this.#api.inFlight };
    }
    if (h.dailyRemaining !== undefined) {
      // Calls still in flight may not be counted yet: assume they are.
      const resetAt = now + (nextMidnight(now, this.#o.timeZone) - now) * this.#o.timeScale;
      this.#daily = { remaining: h.dailyRemaining, max: h.daily, sentSince: this.#api.inFlight + this.#search.inFlight, resetAt };
    }
  }

  #on429(kind: CallKind, policy: LimitPolicy | undefined, retryAfterMs: number | undefined, now: number): void {
    this.#o.metrics?.count('hubspot.api.429s', 1, { portalId: this.portalId, policy: policy ?? 'UNKNOWN' });
    const oldest = this.#api.done.find((t) => t > now - this.#api.windowMs);
    const pause = pauseFor429({
      policy, kind, retryAfterMs, nowMs: now, windowMs: this.#api.windowMs, searchWindowMs: this.#search.windowMs,
      oldestInWindowMs: oldest, timeZone: this.#o.timeZone, timeScale: this.#o.timeScale,
    });
    if (pause.policy === 'SECONDLY' || pause.policy === 'TEN_SECONDLY_ROLLING') {
      // HubSpot counted calls later than we assumed (or others share the token): assume later still.
      const l = pause.policy === 'SECONDLY' ? this.#search : this.#api;
      l.marginMs = Math.min(l.windowMs, l.marginMs * 2 + 10);
    }
    this.#pause(pause, now, 'HubSpot daily API limit reached');
  }

  /**
   * Whether the calls left today are only the other integrations' share: hubsync's is
   * `budgetShare` of the daily limit (from the headers, else the tier's or configured one).
   */
  #dailyShareUsed(): boolean {
    const max = this.#today()?.max ?? this.#o.dailyLimit ?? undefined;
    const left = this.dailyRemaining();
    if (left === undefined || max === undefined) return false;
    return left <= max - Math.floor(max * this.#o.budgetShare);
  }

  /** Pauses the account until the daily limit resets, before HubSpot has to answer 429. */
  #pauseForTheDay(now: number): void {
    const pause = pauseFor429({
      policy: 'DAILY', kind: 'api', retryAfterMs: undefined, nowMs: now, windowMs: this.#api.windowMs, searchWindowMs: this.#search.windowMs,
      oldestInWindowMs: undefined, timeZone: this.#o.timeZone, timeScale: this.#o.timeScale,
    });
    const left = this.dailyRemaining();
    this.#pause(pause, now, `hubsync's share (budgetShare ${this.#o.budgetShare}) of the HubSpot daily API limit used, ${left} calls left for other integrations`);
  }

  #pause(pause: Pause, now: number, dailyReason: string): void {
    if (pause.scope === 'search') this.#search.pausedUntil = Math.max(this.#search.pausedUntil, pause.untilMs);
    else this.#accountPausedUntil = Math.max(this.#accountPausedUntil, pause.untilMs);
    // The window is full as far as HubSpot is concerned: forget any hint that says otherwise.
    if (pause.scope === 'account') this.#hint = undefined;
    // Past the reset the first answer brings the new day's count.
    if (pause.policy === 'DAILY') this.#daily = undefined;
    const fields = { portalId: this.portalId, policy: pause.policy, pausedUntil: new Date(pause.untilMs).toISOString(), waitMs: pause.untilMs - now };
    if (pause.policy === 'DAILY') {
      this.#o.log.warn({ ...fields, timeZone: this.#o.timeZone }, `${dailyReason} for portal ${this.portalId}: paused until ${new Date(pause.untilMs).toISOString()} (next midnight, ${this.#o.timeZone})`);
    } else {
      this.#o.log.debug(fields, 'HubSpot rate limit (429): pausing');
    }
    this.#o.onPause?.(pause);
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }

  /** Sleeps `ms`; with `wakeEarly` any release or pause change ends it. False when aborted. */
  #sleep(ms: number, signal: AbortSignal | undefined, wakeEarly = false): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted || this.#closed) return resolve(false);
      const done = (value: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#wake.push(wakeEarly ? () => done(!this.#closed) : () => this.#closed && done(false));
    });
  }
}

function lane(limit: number, windowMs: number, marginMs: number): Lane {
  return { queue: new PQueue({ concurrency: 1 }), done: [], inFlight: 0, windowMs, limit, pausedUntil: 0, marginMs };
}

function prune(l: Lane, now: number): void {
  while (l.done.length > 0 && (l.done[0] ?? 0) <= now - l.windowMs) l.done.shift();
}
