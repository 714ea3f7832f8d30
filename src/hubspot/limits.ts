/**
 * Pure rate-limit decisions: what a 429 means, what the X-HubSpot-RateLimit-* headers say, when the
 * daily limit resets. The budget (budget.ts) holds the state and the clock; everything here takes
 * time as a parameter.
 */

export type LimitPolicy = 'TEN_SECONDLY_ROLLING' | 'SECONDLY' | 'DAILY';

export interface RateHeaders {
  max?: number;
  remaining?: number;
  intervalMs?: number;
  daily?: number;
  dailyRemaining?: number;
}

/** Reads the X-HubSpot-RateLimit-* headers (any case); absent or malformed ones stay undefined. */
export function parseRateHeaders(headers: Readonly<Record<string, string | undefined>>): RateHeaders {
  const lower: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const num = (name: string): number | undefined => {
    const raw = lower[`x-hubspot-ratelimit-${name}`];
    const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const out: RateHeaders = {};
  const pairs: [keyof RateHeaders, string][] = [
    ['max', 'max'],
    ['remaining', 'remaining'],
    ['intervalMs', 'interval-milliseconds'],
    ['daily', 'daily'],
    ['dailyRemaining', 'daily-remaining'],
  ];
  for (const [key, name] of pairs) {
    const value = num(name);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The `policyName` of a 429 body, when it is one hubsync knows. */
export function policyOf(body: unknown): LimitPolicy | undefined {
  const name = body && typeof body === 'object' ? (body as { policyName?: unknown }).policyName : undefined;
  return name === 'TEN_SECONDLY_ROLLING' || name === 'SECONDLY' || name === 'DAILY' ? name : undefined;
}

export interface PauseInput {
  policy: LimitPolicy | undefined;
  /** The lane of the call HubSpot refused: ordinary calls, or searches. */
  kind: 'api' | 'search';
  retryAfterMs: number | undefined;
  nowMs: number;
  windowMs: number;
  searchWindowMs: number;
  /** When our oldest call still inside the rolling window was sent, if any. */
  oldestInWindowMs: number | undefined;
  /** The shortest wait before a refused call goes again (grows with the call's consecutive 429s). */
  floorMs: number;
  timeZone: string;
  /** Multiplies the wait until midnight (a time-scaled test day). */
  timeScale: number;
}

export interface Pause {
  /**
   * What waits: `account` every call of the portal (the daily limit); `api` ordinary calls (the rolling
   * window, or a secondly limit on an ordinary call); `search` only searches (the Search API's own limit).
   */
  scope: 'account' | 'api' | 'search';
  untilMs: number;
  policy: LimitPolicy | 'UNKNOWN';
}

/**
 * How long a 429 stops the lane that was limited. `Retry-After` wins when HubSpot sends it (but never
 * below the floor). Otherwise: until midnight in the account's time zone (`DAILY`, the whole account),
 * the rest of the rolling 10-second window (`TEN_SECONDLY_ROLLING`, ordinary calls), one second
 * (`SECONDLY`, the lane of the refused call: searches, or ordinary calls).
 */
export function pauseFor429(input: PauseInput): Pause {
  const { policy, nowMs } = input;
  const label = policy ?? 'UNKNOWN';
  const after = (waitMs: number) => nowMs + Math.max(input.floorMs, input.retryAfterMs ?? waitMs);
  if (policy === 'DAILY') {
    const untilMs = input.retryAfterMs !== undefined ? nowMs + input.retryAfterMs : nowMs + (nextMidnight(nowMs, input.timeZone) - nowMs) * input.timeScale;
    return { scope: 'account', untilMs, policy };
  }
  if (policy === 'SECONDLY' || (policy === undefined && input.kind === 'search')) {
    return { scope: input.kind, untilMs: after(input.searchWindowMs), policy: label };
  }
  // The window frees when our oldest counted call leaves it; others on the token may hold more, so never
  // wait less than a tenth of the window.
  const rest = input.oldestInWindowMs === undefined ? input.windowMs : input.oldestInWindowMs + input.windowMs - nowMs;
  return { scope: 'api', untilMs: after(Math.min(input.windowMs, Math.max(input.windowMs / 10, rest))), policy: label };
}

/** Offset of `timeZone` from UTC at the instant `utcMs`, in ms (positive east of Greenwich). */
export function timeZoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(utcMs));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** The next local midnight in `timeZone` after `nowMs` (when HubSpot resets the daily limit). */
export function nextMidnight(nowMs: number, timeZone: string): number {
  const local = new Date(nowMs + timeZoneOffsetMs(timeZone, nowMs));
  const localMidnight = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + 1);
  // The offset at midnight can differ from now's (a DST change today): correct with the offset there.
  let guess = localMidnight - timeZoneOffsetMs(timeZone, nowMs);
  guess = localMidnight - timeZoneOffsetMs(timeZone, guess);
  return guess > nowMs ? guess : guess + 86_400_000;
}
