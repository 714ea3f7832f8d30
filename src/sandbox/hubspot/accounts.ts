import type { Clock } from './clock.ts';
import { RateLimiter, TIER_LIMITS, type LimitConfig, type LimitPolicy, type Tier } from './limits.ts';

export interface AccountOptions {
  portalId: number;
  /** Bearer token that selects this portal (a private-app `pat-…` token or an OAuth access token). */
  accessToken: string;
  tier?: Tier;
  /** Overrides of the tier's numbers. */
  limits?: Partial<LimitConfig>;
  /** Send `Retry-After` (seconds) on 429s. Default false, as HubSpot mostly does not. */
  retryAfter?: boolean;
  /** First daily reset, epoch ms; default next midnight (scaled day when time-scaled). */
  firstDailyResetAt?: number;
}

export interface Account {
  readonly portalId: number;
  readonly accessToken: string;
  readonly tier: Tier;
  readonly limiter: RateLimiter;
  retryAfter: boolean;
}

/** An injected failure for the next `count` API calls of a portal (any portal when portalId is unset). */
export interface ApiFault {
  status: number;
  count: number;
  policy?: LimitPolicy;
  portalId?: number;
}

export class Accounts {
  readonly #byToken = new Map<string, Account>();
  readonly #faults: ApiFault[] = [];

  constructor(options: readonly AccountOptions[], clock: Clock) {
    for (const o of options) {
      const tier = o.tier ?? 'professional';
      const limiter = new RateLimiter({ ...TIER_LIMITS[tier], ...o.limits }, clock, o.firstDailyResetAt);
      this.#byToken.set(o.accessToken, { portalId: o.portalId, accessToken: o.accessToken, tier, limiter, retryAfter: o.retryAfter ?? false });
    }
  }

  byToken(token: string): Account | undefined {
    return this.#byToken.get(token);
  }

  list(): Account[] {
    return [...this.#byToken.values()];
  }

  forPortal(portalId: number): Account[] {
    return this.list().filter((a) => a.portalId === portalId);
  }

  injectFault(fault: ApiFault): void {
    if (fault.count > 0) this.#faults.push({ ...fault });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Consumes one injected failure that applies to this portal, if any. */
  takeFault(portalId: number): ApiFault | undefined {
    const i = this.#faults.findIndex((f) => f.portalId === undefined || f.portalId === portalId);
    const f = this.#faults[i];
    if (!f) return undefined;
    if (--f.count <= 0) this.#faults.splice(i, 1);
    return f;
  }
}
