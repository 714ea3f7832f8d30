/**
 * What a delivery outcome means for an outbox row. Pure: time and randomness are parameters.
 *
 * Transient failures (429, 5xx, 408, timeouts, network errors) are Paragon's or the network's
 * trouble, not the event's: they back off but never make a row dead, however long the outage.
 * Other 4xx say the event itself is refused; those count toward `maxAttempts`, then the row is
 * dead until an operator redrives it (`hubsync outbox retry --dead`) or discards it; meanwhile it
 * holds back its contact's later events, so no contact's events are ever reordered.
 */
import type { FailureUpdate } from './store.ts';
import { describeOutcome, type HttpOutcome } from '../paragon/http.ts';
import { retryAfterMs } from '../retry-after.ts';
import { backoffMs } from '../loop.ts';

export interface RetryPolicy {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export type DeliveryResult =
  | { kind: 'sent'; status: number }
  | { kind: 'transient'; status: number | null; error: string; retryAfterMs?: number; throttled: boolean }
  | { kind: 'permanent'; status: number; error: string };

export function classifyOutcome(outcome: HttpOutcome, nowMs: number): DeliveryResult {
  if (outcome.kind !== 'response') return { kind: 'transient', status: null, error: describeOutcome(outcome), throttled: false };
  const { status } = outcome;
  if (status >= 200 && status < 300) return { kind: 'sent', status };
  const error = describeOutcome(outcome);
  if (status === 429 || status === 408 || status >= 500) {
    const after = retryAfterMs(outcome.headers.get('retry-after'), nowMs);
    return { kind: 'transient', status, error, throttled: status === 429, ...(after === undefined ? {} : { retryAfterMs: after }) };
  }
  return { kind: 'permanent', status, error };
}

/** The row's next state after a failed attempt. `Retry-After` is honoured, up to `backoffMaxMs`. */
export function afterFailure(
  row: { attempts: number; failures: number },
  result: Exclude<DeliveryResult, { kind: 'sent' }>,
  policy: RetryPolicy,
  nowMs: number,
  random: number,
): FailureUpdate {
  const attempts = row.attempts + 1;
  if (result.kind === 'transient') {
    const delay = result.retryAfterMs !== undefined ? Math.min(result.retryAfterMs, policy.backoffMaxMs) : backoffMs(attempts, policy.backoffBaseMs, policy.backoffMaxMs, random);
    return { status: 'pending', attempts, failures: row.failures, nextAttemptAt: new Date(nowMs + delay), lastStatus: result.status, lastError: result.error };
  }
  const failures = row.failures + 1;
  const dead = failures >= policy.maxAttempts;
  return {
    status: dead ? 'dead' : 'pending',
    attempts,
    failures,
    nextAttemptAt: new Date(dead ? nowMs : nowMs + backoffMs(failures, policy.backoffBaseMs, policy.backoffMaxMs, random)),
    lastStatus: result.status,
    lastError: result.error,
  };
}
