/**
 * One rate budget per HubSpot account, shared by every caller in the process (polling, webhook
 * hydration, backfills). Two lanes, ordinary calls and searches, each a p-queue that starts calls in
 * priority order and, with its own strict sliding window (`interval`/`intervalCap`), no more of them
 * in any window than the limit allows. Written by hand is only what p-queue cannot know: the live
 * X-HubSpot-RateLimit-* headers (Remaining: what other integrations on the token left; Max and
 * Interval-Milliseconds: the token's own window, when it is smaller or longer than the configured
 * one, which p-queue cannot change once built), the daily budget, and 429s,
 * which pause the lane that was limited (the account, for the daily limit) for at least a floor,
 * and end a call after a cap of consecutive 429s. 5xx and network failures are retried with
 * exponential backoff and full jitter.
 */
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { sleep } from '../loop.ts';
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
  /** Scales every duration the budget assumes (windows, the day, the 429 floor); 1 in production. */
  timeScale?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The shortest wait after a 429 (doubling with each consecutive 429 of a call). Default 1 s. */
  floor429Ms?: number;
  /** Consecutive 429s after which a call gives up (`rate_limited`); its caller retries later. Default 6. */
  max429Retries?: number;
  log: Logger;
  metrics?: Metrics;
  now?: () => number;
  random?: () => number;
  /**
   * Added to each window: HubSpot counts a call when it arrives, a little after we send it, so a
   * window of sends exactly as long as HubSpot's could put one call too many in one of its windows.
   * Default 50 ms.
   */
  arrivalMarginMs?: number;
  /** Called when a 429 pauses a lane or the account (to persist daily pauses). */
  onPause?: (pause: Pause) => void;
}

/** Per-run tallies a caller can pass in to learn what its calls cost. */
export interface CallStats {
  calls: number;
  rateLimited: number;
}

const PRIORITY: Readonly<Record<Priority, number>> = { hydration: 2, incremental: 1, backfill: 0, verify: -1 };

interface Lane {
  kind: CallKind;
  /** Starts calls by priority, at most the configured limit in any configured window + margin. */
  queue: PQueue;
  /** Calls per window: the configured share, narrowed by the token's own (X-HubSpot-RateLimit-Max) once known. */
  limit: number;
  /** The window: the configured one, or the token's (X-HubSpot-RateLimit-Interval-Milliseconds) when longer. */
  windowMs: number;
  /** When calls still inside the window were sent (the gauge, and how long a rolling-window 429 waits). */
  sent: number[];
  inFlight: number;
  pausedUntil: number;
  /** Restarts the queue once the lane may send again. */
  resume: NodeJS.Timeout | undefined;
}

interface DailyCount {
  remaining: number;
  max: number | undefined;
  sentSince: number;
  resetAt: number;
}

/** What a queued call found when its turn came: the lane closed meanwhile, so it queues again. */
const CLOSED = Symbol('lane closed');

type Options = Required<Omit<BudgetOptions, 'metrics' | 'onPause'>> & Pick<BudgetOptions, 'metrics' | 'onPause'>;

export class AccountBudget {
  readonly portalId: number;
  readonly #o: Options;
  readonly #api: Lane;
  readonly #search: Lane;
  /** The api lane's window as configured (p-queue's): headers may only narrow it. */
  readonly #configured: { limit: number; windowMs: number };
  #accountPausedUntil = 0;
  /** Server's Remaining at the last response, less what we sent since. */
  #hint: { remaining: number; atMs: number; sentSince: number; inFlightAt: number } | undefined;
  /** The daily count from the last headers that carried it, the calls sent since, and when the day it counts ends. */
  #daily: DailyCount | undefined;
  /** Aborted by `close`: ends every backoff sleep at once. */
  readonly #closing = new AbortController();

  constructor(options: BudgetOptions) {
    const o: Options = {
      timeScale: 1,
      maxAttempts: 6,
      backoffBaseMs: 500,
      backoffMaxMs: 30_000,
      floor429Ms: 1000,
      max429Retries: 6,
      arrivalMarginMs: 50,
      now: Date.now,
      random: Math.random,
      ...options,
    };
    this.#o = o;
    this.portalId = o.portalId;
    this.#api = this.#lane('api', Math.max(1, Math.floor(o.windowLimit * o.budgetShare)), o.windowMs * o.timeScale);
    this.#configured = { limit: this.#api.limit, windowMs: this.#api.windowMs };
    // Search has no headers to share with others and its own small limit: use all of it.
    this.#search = this.#lane('search', o.searchPerSecond, 1000 * o.timeScale);
    const labels = { portalId: o.portalId };
    o.metrics?.gaugeFn('hubspot.budget.window_remaining', () => this.windowRemaining(), labels);
    o.metrics?.gaugeFn('hubspot.budget.daily_remaining', () => this.dailyRemaining(), labels);
    o.metrics?.gaugeFn('hubspot.budget.queued', () => this.#api.queue.size + this.#search.queue.size, labels);
  }

  #lane(kind: CallKind, limit: number, windowMs: number): Lane {
    const queue = new PQueue({ interval: windowMs + this.#o.arrivalMarginMs, intervalCap: limit, strict: true });
    return { kind, queue, limit, windowMs, sent: [], inFlight: 0, pausedUntil: 0, resume: undefined };
  }

  /** Calls still allowed in the current 10-second window (ours, narrowed by the last headers). */
  windowRemaining(): number {
    const now = this.#o.now();
    const l = this.#api;
    prune(l, now);
    let free = l.limit - l.sent.length;
    const hint = this.#hintRoom(now);
    if (hint !== undefined) free = Math.min(free, hint);
    return Math.max(0, free);
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

  /** While ordinary calls wait out a 429 or the daily limit, until when (epoch ms); else undefined. */
  pausedUntil(): number | undefined {
    const until = Math.max(this.#accountPausedUntil, this.#api.pausedUntil);
    return until > this.#o.now() ? until : undefined;
  }

  /** Restores a pause remembered from an earlier run (the daily limit). */
  restorePause(untilMs: number): void {
    this.#accountPausedUntil = Math.max(this.#accountPausedUntil, untilMs);
  }

  /**
   * Runs one HubSpot call under the budget, retrying 429s (after the pause they imply, up to
   * `max429Retries` in a row) and 5xx or network failures (backoff, up to `maxAttempts`). Client
   * errors come back at once as values.
   */
  async run<T>(kind: CallKind, priority: Priority, call: () => Promise<CallOutcome<T>>, opts: { signal?: AbortSignal; stats?: CallStats } = {}): Promise<CallResult<T>> {
    const l = kind === 'search' ? this.#search : this.#api;
    const aborted = { ok: false, failure: 'aborted', message: 'stopped' } as const;
    let failures = 0;
    let limited = 0;
    for (;;) {
      if (opts.signal?.aborted || this.#closed) return aborted;
      let outcome: CallOutcome<T> | typeof CLOSED;
      try {
        outcome = await l.queue.add(() => this.#send(l, call), { priority: PRIORITY[priority], ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch {
        // Aborted while waiting, or the budget closed: the call never went out.
        return aborted;
      }
      if (outcome === CLOSED) continue;
      if (opts.stats) opts.stats.calls += 1;
      this.#o.metrics?.count('hubspot.api.calls', 1, { portalId: this.portalId, kind });
      if (outcome.ok) return { ok: true, value: outcome.value };
      if (outcome.failure === 'rate_limited') {
        if (opts.stats) opts.stats.rateLimited += 1;
        // HubSpot answered: the 5xx streak is over.
        failures = 0;
        limited += 1;
        this.#on429(kind, outcome.policy, outcome.retryAfterMs, limited);
        if (limited >= this.#o.max429Retries) {
          this.#o.log.warn({ portalId: this.portalId, kind, policy: outcome.policy ?? 'UNKNOWN', rateLimited: limited }, 'HubSpot call refused with 429 too many times in a row: giving up for now');
          return { ok: false, failure: 'rate_limited', status: 429, message: `${limited} consecutive 429s (${outcome.policy ?? 'no policy'}): ${outcome.message}` };
        }
        continue;
      }
      limited = 0;
      if (outcome.failure === 'client') return outcome;
      failures += 1;
      this.#o.metrics?.count('hubspot.api.errors', 1, { portalId: this.portalId, failure: outcome.failure });
      if (failures >= this.#o.maxAttempts) return outcome;
      // Closed or aborted while the attempt was out: no retry comes, so none is announced.
      if (opts.signal?.aborted || this.#closed) return aborted;
      const delay = this.#backoff(failures);
      this.#o.log.warn({ portalId: this.portalId, failure: outcome.failure, status: 'status' in outcome ? outcome.status : undefined, attempt: failures, delayMs: Math.round(delay) }, 'HubSpot call failed: retrying');
      await sleep(delay, opts.signal ? AbortSignal.any([opts.signal, this.#closing.signal]) : this.#closing.signal);
      if (opts.signal?.aborted || this.#closed) return aborted;
    }
  }

  /** Stops admitting calls; waiters return `aborted`. */
  close(): void {
    this.#closing.abort();
    for (const l of [this.#api, this.#search]) {
      clearTimeout(l.resume);
      l.queue.clear();
    }
  }

  get #closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /**
   * A call's turn in its lane's queue: sent when the lane is open; otherwise the queue stops
   * starting calls until it may open again, and this call queues again.
   */
  async #send<T>(l: Lane, call: () => Promise<CallOutcome<T>>): Promise<CallOutcome<T> | typeof CLOSED> {
    const now = this.#o.now();
    const until = this.#closedUntil(l, now);
    if (until !== undefined) {
      this.#hold(l, until);
      return CLOSED;
    }
    l.inFlight += 1;
    prune(l, now);
    l.sent.push(now);
    // Searches count towards the daily limit too, though their answers carry no headers.
    if (this.#daily) this.#daily.sentSince += 1;
    if (l === this.#api && this.#hint) this.#hint.sentSince += 1;
    let outcome: CallOutcome<T>;
    try {
      outcome = await call();
    } catch (err) {
      outcome = { ok: false, failure: 'network', message: err instanceof Error ? err.message : String(err) };
    } finally {
      l.inFlight -= 1;
    }
    if ('headers' in outcome && outcome.headers) this.#observeHeaders(outcome.headers, this.#o.now());
    return outcome;
  }

  /** Until when the lane may not send (a pause, the daily share, the token's window by the last headers); undefined when it may. */
  #closedUntil(l: Lane, now: number): number | undefined {
    const paused = Math.max(this.#accountPausedUntil, l.pausedUntil);
    if (paused > now) return paused;
    if (this.#dailyShareUsed()) return this.#pauseForTheDay(now).untilMs;
    if (l === this.#api && (this.#hintRoom(now) ?? 1) <= 0) {
      // The token's window is full by HubSpot's count (others use it too): wait for the window to
      // move on, or for an answer in flight to bring fresher headers.
      return this.#hint!.atMs + l.windowMs;
    }
    if (l === this.#api) {
      // Our own count against the token's window as its headers describe it (p-queue keeps the
      // configured one; this only bites when the token's is smaller or longer).
      prune(l, now);
      if (l.sent.length >= l.limit) return (l.sent[l.sent.length - l.limit] ?? now) + l.windowMs + this.#o.arrivalMarginMs;
    }
    return undefined;
  }

  /** Calls the last headers leave us, while they are recent. */
  #hintRoom(now: number): number | undefined {
    const hint = this.#hint;
    if (!hint || now - hint.atMs >= this.#api.windowMs) return undefined;
    return hint.remaining - hint.sentSince - hint.inFlightAt;
  }

  /** Stops the lane's queue until `untilMs` (a fresher answer may reopen it earlier). */
  #hold(l: Lane, untilMs: number): void {
    l.queue.pause();
    clearTimeout(l.resume);
    l.resume = setTimeout(() => this.#reopen(l), Math.max(1, untilMs - this.#o.now()));
  }

  #reopen(l: Lane): void {
    if (this.#closed) return;
    const until = this.#closedUntil(l, this.#o.now());
    if (until !== undefined) return this.#hold(l, until);
    clearTimeout(l.resume);
    l.resume = undefined;
    l.queue.start();
  }

  #backoff(failures: number): number {
    const cap = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** (failures - 1)) * this.#o.timeScale;
    return cap / 2 + (this.#o.random() * cap) / 2;
  }

  #observeHeaders(headers: Readonly<Record<string, string>>, now: number): void {
    const h = parseRateHeaders(headers);
    if (h.max !== undefined && h.max > 0) {
      // The token's own window, never wider than configured: a token on a lower tier than the
      // configuration says, or a window HubSpot counts over a longer interval.
      this.#api.limit = Math.min(this.#configured.limit, Math.max(1, Math.floor(h.max * this.#o.budgetShare)));
      this.#api.windowMs = Math.max(this.#configured.windowMs, h.intervalMs ?? 0);
    }
    if (h.remaining !== undefined && h.max !== undefined) {
      // Leave the other integrations' share of the token untouched.
      const reserve = h.max - Math.floor(h.max * this.#o.budgetShare);
      this.#hint = { remaining: h.remaining - reserve, atMs: now, sentSince: 0, inFlightAt: this.#api.inFlight };
      if (this.#api.resume !== undefined && this.#api.pausedUntil <= now) this.#reopen(this.#api);
    }
    if (h.dailyRemaining !== undefined) {
      // Calls still in flight may not be counted yet: assume they are.
      const resetAt = now + (nextMidnight(now, this.#o.timeZone) - now) * this.#o.timeScale;
      this.#daily = { remaining: h.dailyRemaining, max: h.daily, sentSince: this.#api.inFlight + this.#search.inFlight, resetAt };
    }
  }

  #on429(kind: CallKind, policy: LimitPolicy | undefined, retryAfterMs: number | undefined, consecutive: number): void {
    const now = this.#o.now();
    this.#o.metrics?.count('hubspot.api.429s', 1, { portalId: this.portalId, policy: policy ?? 'UNKNOWN' });
    prune(this.#api, now);
    const pause = pauseFor429({
      policy, kind, retryAfterMs, nowMs: now, windowMs: this.#api.windowMs, searchWindowMs: this.#search.windowMs,
      oldestInWindowMs: this.#api.sent[0], timeZone: this.#o.timeZone, timeScale: this.#o.timeScale,
      floorMs: Math.min(this.#api.windowMs, this.#o.floor429Ms * this.#o.timeScale * 2 ** (consecutive - 1)),
    });
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
  #pauseForTheDay(now: number): Pause {
    const pause = pauseFor429({
      policy: 'DAILY', kind: 'api', retryAfterMs: undefined, nowMs: now, windowMs: this.#api.windowMs, searchWindowMs: this.#search.windowMs,
      oldestInWindowMs: undefined, floorMs: 0, timeZone: this.#o.timeZone, timeScale: this.#o.timeScale,
    });
    const left = this.dailyRemaining();
    this.#pause(pause, now, `hubsync's share (budgetShare ${this.#o.budgetShare}) of the HubSpot daily API limit used, ${left} calls left for other integrations`);
    return pause;
  }

  #pause(pause: Pause, now: number, dailyReason: string): void {
    const lanes = pause.scope === 'account' ? [this.#api, this.#search] : [pause.scope === 'search' ? this.#search : this.#api];
    if (pause.scope === 'account') this.#accountPausedUntil = Math.max(this.#accountPausedUntil, pause.untilMs);
    else for (const l of lanes) l.pausedUntil = Math.max(l.pausedUntil, pause.untilMs);
    // The window is full as far as HubSpot is concerned: forget any hint that says otherwise.
    if (pause.scope !== 'search') this.#hint = undefined;
    // Past the reset the first answer brings the new day's count.
    if (pause.policy === 'DAILY') this.#daily = undefined;
    for (const l of lanes) this.#hold(l, Math.max(this.#accountPausedUntil, l.pausedUntil));
    const fields = { portalId: this.portalId, scope: pause.scope, policy: pause.policy, pausedUntil: new Date(pause.untilMs).toISOString(), waitMs: pause.untilMs - now };
    if (pause.policy === 'DAILY') {
      this.#o.log.warn({ ...fields, timeZone: this.#o.timeZone }, `${dailyReason} for portal ${this.portalId}: paused until ${new Date(pause.untilMs).toISOString()} (next midnight, ${this.#o.timeZone})`);
    } else {
      this.#o.log.debug(fields, 'HubSpot rate limit (429): pausing');
    }
    this.#o.onPause?.(pause);
  }
}

function prune(l: Lane, now: number): void {
  while (l.sent.length > 0 && (l.sent[0] ?? 0) <= now - l.windowMs) l.sent.shift();
}
