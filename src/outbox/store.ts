/**
 * Queries on `app_event_outbox`. What to do with a delivery outcome is decided in
 * src/outbox/policy.ts; this file only moves rows.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { AppEventOutboxTable, OutboxRowStatus } from '../db/outbox-tables.ts';
import type { Database } from '../db/schema.ts';

export type OutboxRow = Selectable<AppEventOutboxTable>;
type Executor = Kysely<Database> | Transaction<Database>;

/** An App Event to enqueue. */
export interface NewAppEvent {
  /** The Paragon Connected User (the user token's `sub`). */
  userId: string;
  name: string;
  payload: Record<string, unknown>;
  /** Unique per event: enqueueing the same key twice is a no-op. */
  idempotencyKey: string;
  /** Events sharing it are delivered one at a time, oldest first (default: the idempotency key, i.e. unordered). */
  orderingKey?: string;
}

/**
 * Inserts events, skipping those whose idempotency key is already present; returns how many
 * were new. One statement, so it joins the caller's transaction when given one.
 */
export async function insertAppEvents(db: Executor, events: readonly NewAppEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = JSON.stringify(
    events.map((e, n) => ({ n, user_id: e.userId, name: e.name, payload: e.payload, idempotency_key: e.idempotencyKey, ordering_key: e.orderingKey ?? e.idempotencyKey })),
  );
  // jsonb_to_recordset keeps this one statement with one parameter whatever the batch size;
  // ORDER BY keeps ids (and so per-key delivery order) in the caller's order.
  const result = await sql<{ id: number }>`
    insert into app_event_outbox (user_id, name, payload, idempotency_key, ordering_key)
    select r.user_id, r.name, r.payload, r.idempotency_key, r.ordering_key
    from jsonb_to_recordset(${rows}::jsonb) as r(n int, user_id text, name text, payload jsonb, idempotency_key text, ordering_key text)
    order by r.n
    on conflict (idempotency_key) do nothing
    returning id`.execute(db);
  return result.rows.length;
}

export interface ClaimOptions {
  now: Date;
  limit: number;
  /** The lease: until then no other worker takes these rows. */
  lockedUntil: Date;
  /** Identifies this claim; later updates only apply while it still holds the lease. */
  claimToken: string;
}

/**
 * The bound for `next_attempt_at < bound`: the end of `now`'s millisecond. The database stamps new
 * rows in microseconds and the daemon's clock counts milliseconds, so a row inserted in the same
 * millisecond as a claim would otherwise wait for the next one.
 */
function dueBy(now: Date): Date {
  return new Date(now.getTime() + 1);
}

/**
 * Claims up to `limit` due rows, each the oldest undelivered row of its ordering key, by leasing
 * them. `FOR UPDATE SKIP LOCKED` lets concurrent workers claim disjoint sets without waiting;
 * the head-of-line condition keeps a key's second event unclaimable while its first is still
 * pending (in flight, or backing off) or dead, so one contact's events never overtake each
 * other: a dead event holds its contact's later events until it is redriven.
 */
export async function claimDue(db: Executor, o: ClaimOptions): Promise<OutboxRow[]> {
  const result = await sql<OutboxRow>`
    with due as (
      select o.id from app_event_outbox o
      where o.status = 'pending'
        and o.next_attempt_at < ${dueBy(o.now)}
        and (o.locked_until is null or o.locked_until <= ${o.now})
        and not exists (
          select 1 from app_event_outbox p
          where p.status <> 'sent' and p.ordering_key = o.ordering_key and p.id < o.id)
      order by o.next_attempt_at, o.id
      limit ${o.limit}
      for update skip locked)
    update app_event_outbox o
    set locked_until = ${o.lockedUntil}, locked_by = ${o.claimToken}
    from due where o.id = due.id
    returning o.*`.execute(db);
  return result.rows.sort((a, b) => a.id - b.id);
}

/**
 * Claims the next event of one ordering key if it is now that key's head (the oldest undelivered
 * row), due and unleased: after a worker delivers a contact's event it can go on with the same
 * contact without a full claim scan, which matters when a few contacts have long backlogs.
 * The row lock taken by the UPDATE re-checks the lease, so two workers never both get it.
 */
export async function claimNextOfKey(db: Executor, orderingKey: string, o: Omit<ClaimOptions, 'limit'>): Promise<OutboxRow | undefined> {
  const result = await sql<OutboxRow>`
    update app_event_outbox o
    set locked_until = ${o.lockedUntil}, locked_by = ${o.claimToken}
    where o.id = (
        select p.id from app_event_outbox p
        where p.ordering_key = ${orderingKey} and p.status <> 'sent'
        order by p.id limit 1)
      and o.status = 'pending'
      and o.next_attempt_at < ${dueBy(o.now)}
      and (o.locked_until is null or o.locked_until <= ${o.now})
    returning o.*`.execute(db);
  return result.rows[0];
}

/** Marks a delivered row sent. Applies even if the lease was lost: the event did arrive. */
export async function markSent(db: Executor, id: number, now: Date, status: number): Promise<void> {
  await db
    .updateTable('app_event_outbox')
    .set((eb) => ({
      status: 'sent',
      sent_at: now,
      attempts: eb('attempts', '+', 1),
      last_status: status,
      last_error: null,
      locked_until: null,
      locked_by: null,
    }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

export interface FailureUpdate {
  status: Exclude<OutboxRowStatus, 'sent'>;
  attempts: number;
  failures: number;
  nextAttemptAt: Date;
  lastStatus: number | null;
  lastError: string;
}

/** Records a failed attempt; a no-op when another worker has since taken the row over. */
export async function markFailed(db: Executor, id: number, claimToken: string, u: FailureUpdate): Promise<boolean> {
  const result = await db
    .updateTable('app_event_outbox')
    .set({
      status: u.status,
      attempts: u.attempts,
      failures: u.failures,
      next_attempt_at: u.nextAttemptAt,
      last_status: u.lastStatus,
      last_error: u.lastError.slice(0, 2000),
      locked_until: null,
      locked_by: null,
    })
    .where('id', '=', id)
    .where('locked_by', '=', claimToken)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Makes pending rows due now (`hubsync outbox retry`); with `dead`, dead rows become pending
 * again with their failure count reset. Returns how many rows changed.
 */
export async function retryRows(db: Executor, o: { now: Date; dead: boolean }): Promise<{ pending: number; revived: number }> {
  const pending = await db
    .updateTable('app_event_outbox')
    .set({ next_attempt_at: o.now })
    .where('status', '=', 'pending')
    .where('next_attempt_at', '>', o.now)
    .executeTakeFirst();
  let revived = 0;
  if (o.dead) {
    const result = await db
      .updateTable('app_event_outbox')
      .set({ status: 'pending', failures: 0, next_attempt_at: o.now, locked_until: null, locked_by: null })
      .where('status', '=', 'dead')
      .executeTakeFirst();
    revived = Number(result.numUpdatedRows);
  }
  return { pending: Number(pending.numUpdatedRows), revived };
}

export interface OutboxCounts {
  pending: number;
  /** Pending rows whose next attempt is later than now (backing off). */
  waiting: number;
  dead: number;
  sentLastHour: number;
  /** created_at of the oldest pending row. */
  oldestPendingAt: Date | null;
}

/** Counts for `hubsync status` and the metrics gauges; uses the partial indexes only. */
export async function outboxCounts(db: Executor, now: Date): Promise<OutboxCounts> {
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const result = await sql<{ pending: number; waiting: number; dead: number; sent_last_hour: number; oldest: Date | null }>`
    select
      (select count(*) from app_event_outbox where status = 'pending') as pending,
      (select count(*) from app_event_outbox where status = 'pending' and next_attempt_at > ${now}) as waiting,
      (select count(*) from app_event_outbox where status = 'dead') as dead,
      (select count(*) from app_event_outbox where status = 'sent' and sent_at > ${hourAgo}) as sent_last_hour,
      (select min(created_at) from app_event_outbox where status = 'pending') as oldest`.execute(db);
  const row = result.rows[0];
  return {
    pending: Number(row?.pending ?? 0),
    waiting: Number(row?.waiting ?? 0),
    dead: Number(row?.dead ?? 0),
    sentLastHour: Number(row?.sent_last_hour ?? 0),
    oldestPendingAt: row?.oldest ? new Date(row.oldest) : null,
  };
}

/** Deletes up to `limit` rows sent before `before`; returns how many. */
export async function deleteSentBefore(db: Executor, before: Date, limit: number): Promise<number> {
  const result = await sql`
    delete from app_event_outbox where id in (
      select id from app_event_outbox where status = 'sent' and sent_at < ${before} order by sent_at limit ${limit})`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Gives back claimed rows that were not attempted (the loop paused mid-batch); attempts are unchanged. */
export async function releaseClaims(db: Executor, ids: readonly number[], claimToken: string): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('app_event_outbox')
    .set({ locked_until: null, locked_by: null })
    .where('id', 'in', [...ids])
    .where('locked_by', '=', claimToken)
    .execute();
}

/** Deletes the given dead rows (an operator giving up on them); returns how many went. */
export async function deleteDead(db: Executor, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db.deleteFrom('app_event_outbox').where('status', '=', 'dead').where('id', 'in', [...ids]).executeTakeFirst();
  return Number(result.numDeletedRows);
}
