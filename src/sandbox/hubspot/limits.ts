import type { Clock } from './clock.ts';

export type Tier = 'free' | 'starter' | 'professional' | 'enterprise' | 'increase' | 'oauth';
export type LimitPolicy = 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY';

export interface LimitConfig {
  perTenSeconds: number;
  /** null: no daily cap and no daily headers (OAuth apps). */
  daily: number | null;
  searchPerSecond: number;
}

/** HubSpot's published defaults per tier; every number can be overridden per token. */
export const TIER_LIMITS: Readonly<Record<Tier, LimitConfig>> = {
  free: { perTenSeconds: 100, daily: 250_000, searchPerSecond: 5 },
  starter: { perTenSeconds: 100, daily: 250_000, searchPerSecond: 5 },
  professional: { perTenSeconds: 190, daily: 625_000, searchPerSecond: 5 },
  enterprise: { perTenSeconds: 190, daily: 1_000_000, searchPerSecond: 5 },
  increase: { perTenSeconds: 250, daily: 2_000_000, searchPerSecond: 5 },
  oauth: { perTenSeconds: 110, daily: null, searchPerSecond: 5 },
};

export type Admission =
  | { ok: true; headers: Record<string, string> }
  | { ok: false; policy: LimitPolicy; retryAfterMs: number; headers: Record<string, string> };

const TEN_SECONDS = 10_000;
const ONE_SECOND = 1_000;
const ONE_DAY = 86_400_000;

/** Next midnight at a UTC offset (minutes), as epoch ms. */
export function nextMidnight(now: number, utcOffsetMinutes = 0): number {
  const shift = utcOffsetMinutes * 60_000;
  return Math.floor((now + shift) / ONE_DAY) * ONE_DAY + ONE_DAY - shift;
}

/**
 * One token's budget: a rolling 10-second window, a separate per-second Search window, and a daily count that
 * resets at (scaled) midnight. Calls rejected with a 429 do not count.
 */
export class RateLimiter {
  readonly config: LimitConfig;
  readonly #clock: Clock;
  readonly #calls: number[] = [];
  readonly #searches: number[] = [];
  #dailyUsed = 0;
  #nextReset: number;

  /** `firstDailyResetAt` defaults to the next UTC midnight at scale 1, or one scaled day from now otherwise. */
  constructor(config: LimitConfig, clock: Clock, firstDailyResetAt?: number) {
    this.config = config;
    this.#clock = clock;
    const now = clock.now();
    this.#nextReset = firstDailyResetAt ?? (clock.timeScale === 1 ? nextMidnight(now) : now + clock.scale(ONE_DAY));
  }

  get windowMs(): number {
    return this.#clock.scale(TEN_SECONDS);
  }

  get searchWindowMs(): number {
    return this.#clock.scale(ONE_SECOND);
  }

  /** Admits (and counts) one call, or says which policy refuses it. Search responses carry no headers. */
  admit(kind: 'api' | 'search'): Admission {
    const now = this.#clock.now();
    this.#roll(now);
    const c = this.config;
    if (c.daily !== null && this.#dailyUsed >= c.daily) {
      return this.#refuse(kind, 'DAILY', this.#nextReset - now);
    }
    if (kind === 'search') {
      if (this.#searches.length >= c.searchPerSecond) {
        return this.#refuse(kind, 'SECONDLY', (this.#searches[0] ?? now) + this.searchWindowMs - now);
      }
      this.#searches.push(now);
    } else {
      if (this.#calls.length >= c.perTenSeconds) {
        return this.#refuse(kind, 'TEN_SECONDLY_ROLLING', (this.#calls[0] ?? now) + this.windowMs - now);
      }
      this.#calls.push(now);
    }
    this.#dailyUsed++;
    return { ok: true, headers: kind === 'search' ? {} : this.headers() };
  }

  headers(): Record<string, string> {
    const c = this.config;
    const remaining = Math.max(0, c.perTenSeconds - this.#calls.length);
    const h: Record<string, string> = {
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(this.windowMs),
      'X-HubSpot-RateLimit-Max': String(c.perTenSeconds),
      'X-HubSpot-RateLimit-Remaining': String(remaining),
      // Deprecated and not enforced, but HubSpot still sends them.
      'X-HubSpot-RateLimit-Secondly': String(Math.ceil(c.perTenSeconds / 10)),
      'X-HubSpot-RateLimit-Secondly-Remaining': String(Math.ceil(remaining / 10)),
    };
    if (c.daily !== null) {
      h['X-HubSpot-RateLimit-Daily'] = String(c.daily);
      h['X-HubSpot-RateLimit-Daily-Remaining'] = String(Math.max(0, c.daily - this.#dailyUsed));
    }
    return h;
  }

  /** Uses up a policy's allowance now, so the next call gets that 429. */
  exhaust(policy: LimitPolicy): void {
    const now = this.#clock.now();
    this.#roll(now);
    if (policy === 'DAILY') this.#dailyUsed = this.config.daily ?? this.#dailyUsed;
    const list = policy === 'SECONDLY' ? this.#searches : policy === 'TEN_SECONDLY_ROLLING' ? this.#calls : null;
    const max = policy === 'SECONDLY' ? this.config.searchPerSecond : this.config.perTenSeconds;
    while (list && list.length < max) list.push(now);
  }

  /** Clears every window and the daily count. */
  reset(): void {
    this.#calls.length = 0;
    this.#searches.length = 0;
    this.#dailyUsed = 0;
  }

  get dailyUsed(): number {
    return this.#dailyUsed;
  }

  #roll(now: number): void {
    while (this.#calls.length > 0 && (this.#calls[0] ?? 0) <= now - this.windowMs) this.#calls.shift();
    while (this.#searches.length > 0 && (this.#searches[0] ?? 0) <= now - this.searchWindowMs) this.#searches.shift();
    if (now >= this.#nextReset) {
      this.#dailyUsed = 0;
      const day = this.#clock.scale(ONE_DAY);
      this.#nextReset += Math.ceil((now - this.#nextReset + 1) / day) * day;
    }
  }

  #refuse(kind: 'api' | 'search', policy: LimitPolicy, retryAfterMs: number): Admission {
    return { ok: false, policy, retryAfterMs: Math.max(1, retryAfterMs), headers: kind === 'search' ? {} : this.headers() };
  }
}

const POLICY_MESSAGE: Record<LimitPolicy, string> = {
  TEN_SECONDLY_ROLLING: 'You have reached your ten_secondly_rolling limit.',
  SECONDLY: 'You have reached your secondly limit.',
  DAILY: 'You have reached your daily limit.',
};

/** The 429 body, field for field as HubSpot sends it. */
export function rateLimitBody(policy: LimitPolicy, correlationId: string, groupName: string): Record<string, string> {
  return { status: 'error', message: POLICY_MESSAGE[policy], errorType: 'RATE_LIMIT', correlationId, policyName: policy, groupName };
}
