import type { LimitPolicy } from './limits.ts';

/** What one HTTP attempt produced, as a value: the budget decides what to do with each kind. */
export type CallOutcome<T> =
  | { ok: true; value: T; headers: Record<string, string> }
  | { ok: false; failure: 'rate_limited'; status: 429; policy: LimitPolicy | undefined; retryAfterMs: number | undefined; headers: Record<string, string>; message: string }
  | { ok: false; failure: 'server'; status: number; headers: Record<string, string>; message: string }
  | { ok: false; failure: 'client'; status: number; headers: Record<string, string>; message: string; body: unknown }
  | { ok: false; failure: 'network'; message: string };

/** A call's final result after the budget's retries: the value, or why it could not be had. */
export type CallResult<T> =
  | { ok: true; value: T }
  | { ok: false; failure: 'server'; status: number; message: string }
  | { ok: false; failure: 'client'; status: number; message: string; body: unknown }
  | { ok: false; failure: 'network'; message: string }
  /** HubSpot kept answering 429: the caller tries again later (a poll's next run, an event's retry). */
  | { ok: false; failure: 'rate_limited'; status: 429; message: string }
  | { ok: false; failure: 'aborted'; message: string };

/** A one-line description of a failed result (for logs and `sync_runs.error`). */
export function describeFailure(result: Exclude<CallResult<unknown>, { ok: true }>): string {
  return 'status' in result ? `${result.failure} ${result.status}: ${result.message}` : `${result.failure}: ${result.message}`;
}
