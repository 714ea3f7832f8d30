/**
 * The outbox's operator and application surface: enqueueing from app code, `hubsync outbox
 * retry`, the status figures and the metrics gauges.
 *
 * The app may also insert rows with plain SQL in its own transaction (so the event commits
 * exactly when its contact does):
 *
 * ```sql
 * insert into app_event_outbox (user_id, name, payload, idempotency_key, ordering_key)
 * values ($user, 'Contact Created', $payload::jsonb, 'contacts:' || $id || ':' || $version, 'contacts:' || $id)
 * on conflict (idempotency_key) do nothing;
 * ```
 * `user_id` is the Paragon Connected User (the token's `sub`); `idempotency_key` must be unique
 * per event (a retry of the app's transaction then enqueues nothing new); events sharing an
 * `ordering_key` (one contact) are delivered one at a time in insertion order. The other columns
 * have defaults (`status` pending, due now).
 */
import type { Kysely, Transaction } from 'kysely';
import { deleteDead, insertAppEvents, outboxCounts, retryRows, type NewAppEvent } from './store.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';

export type { NewAppEvent } from './store.ts';

/**
 * Enqueues one App Event; pass the app's transaction to commit it with the app's own write.
 * Returns false when an event with the same idempotency key already exists.
 */
export async function enqueueAppEvent(db: Kysely<Database> | Transaction<Database>, event: NewAppEvent): Promise<boolean> {
  return (await insertAppEvents(db, [event])) === 1;
}

/**
 * `hubsync outbox retry [--dead]`: makes every pending row due now, and with `dead` revives dead
 * rows (failure count reset) so the delivery loop sends them again.
 */
export async function retryOutbox(db: Kysely<Database>, options: { dead?: boolean; now?: Date } = {}): Promise<{ pending: number; revived: number }> {
  return retryRows(db, { now: options.now ?? new Date(), dead: options.dead ?? false });
}

/**
 * Gives up on dead events for good (a payload Paragon will never accept): deletes them, which
 * releases their contacts' later events, held back so far to keep each contact's order.
 */
export async function discardDeadEvents(db: Kysely<Database>, ids: readonly number[]): Promise<number> {
  return deleteDead(db, ids);
}

export interface OutboxStatus {
  pending: number;
  /** Pending rows waiting out a backoff. */
  waiting: number;
  dead: number;
  sentLastHour: number;
  /** Age of the oldest pending row in seconds (0 when none). */
  oldestPendingAgeSeconds: number;
}

/** The figures `hubsync status` prints for the outbox. */
export async function outboxStatus(db: Kysely<Database>, now: Date = new Date()): Promise<OutboxStatus> {
  const c = await outboxCounts(db, now);
  return {
    pending: c.pending,
    waiting: c.waiting,
    dead: c.dead,
    sentLastHour: c.sentLastHour,
    oldestPendingAgeSeconds: c.oldestPendingAt ? Math.max(0, Math.round((now.getTime() - c.oldestPendingAt.getTime()) / 1000)) : 0,
  };
}

/**
 * Keeps `outbox.pending`, `outbox.dead` and `outbox.oldest_pending_age_seconds` gauges current;
 * call from the metrics loop's collectors or on an interval. Returns the figures.
 */
export async function recordOutboxGauges(db: Kysely<Database>, metrics: Metrics, now: Date = new Date()): Promise<OutboxStatus> {
  const s = await outboxStatus(db, now);
  metrics.gauge('outbox.pending', s.pending);
  metrics.gauge('outbox.dead', s.dead);
  metrics.gauge('outbox.oldest_pending_age_seconds', s.oldestPendingAgeSeconds);
  metrics.gauge('outbox.sent_last_hour', s.sentLastHour);
  return s;
}

/** A metrics-loop collector (`src/metrics/loop.ts`) for the outbox gauges. */
export function outboxCollector(db: Kysely<Database>): (metrics: Metrics, now: Date) => Promise<void> {
  return async (metrics, now) => {
    await recordOutboxGauges(db, metrics, now);
  };
}
