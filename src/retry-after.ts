/**
 * `Retry-After` (RFC 9110 §10.2.3), as HubSpot and Paragon send it: delta seconds or an HTTP date.
 * Shared ground for every HTTP client in hubsync; imports nothing.
 */

/** The wait in ms: delta seconds (fractions accepted, as time-scaled stand-ins send) or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
