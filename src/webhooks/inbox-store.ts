/**
 * Queries of the webhook inbox (`webhook_events`, `webhook_quarantine`): the receiver's one-statement
 * store, the processor's claim / done / retry, and the status figures.
 */
import { sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { ObjectRef } from '../mirror/observation.ts';
import type { IncomingEvent, ParsedBatch } from './inbox.ts';
import { refsTable } from '../mirror/store.ts';
import { prepared } from '../db/prepared.ts';
import { arrayLiteral, timestampToMs } from '../db/sql.ts';
import type { Database } from '../db/schema.ts';
import { loadPayload } from './flood.ts';
import type { WebhookEventsTable } from '../db/webhook-tables.ts';

export type WebhookEventRow = Selectable<WebhookEventsTable>;

/** The columns a claim reads: what planning needs (`StoredEvent`) and the attempts so far, not the delivery evidence and five other timestamps the worker would parse and drop. */
const CLAIMED_COLUMNS = ['id', 'source', 'portal_id', 'object_type', 'object_id', 'received_at', 'payload', 'attempts'] as const;

/** A claimed column as the claim reads it from `webhook_events`: `received_at` as epoch ms (a number parses much faster than a date). */
function claimedColumn(column: string): RawBuilder<unknown> {
  return column === 'received_at' ? sql`${timestampToMs('received_at')} as received_at` : sql.ref(column);
}

/** What a claim returns of an event. */
export type ClaimedEvent = Omit<Pick<WebhookEventRow, (typeof CLAIMED_COLUMNS)[number]>, 'received_at'> & { received_at: number };

export interface StoreResult {
  /** New events. */
  inserted: number;
  /** Events already stored (their delivery evidence was updated). */
  duplicates: number;
  /** Quarantine rows written or counted again. */
  quarantined: number;
}

/** The channel on which storing new events notifies the processors (LISTEN/NOTIFY). */
export const INBOX_CHANNEL = 'hubsync_inbox';

/**
 * Stores a request's events and quarantined events in ONE statement (so all or nothing):
 * a multi-row `INSERT … ON CONFLICT (dedup_key) DO UPDATE` that keeps the earliest and latest
 * attempt and adds the deliveries. Rows must be unique by key and sorted (see `foldDuplicates`),
 * so concurrent requests lock rows in one order. Rows travel as one JSON parameter each way.
 * New events join the processor's queue (`webhook_pending`, by the database's trigger on the
 * insert). Stored outside a transaction, new events are announced (`announceStoredEvents`, with
 * the storing receiver's `load` when given) once the statement has committed; a caller storing
 * inside its own transaction announces after it commits.
 */
export async function storeWebhookBatch(db: Kysely<Database>, batch: ParsedBatch, receivedAt: Date, load?: () => number): Promise<StoreResult> {
  if (batch.events.length === 0 && batch.quarantined.length === 0) return { inserted: 0, duplicates: 0, quarantined: 0 };
  const at = receivedAt.toISOString();
  const events = JSON.stringify(batch.events.map(eventRecord));
  const quarantined = JSON.stringify(
    batch.quarantined.map((q) => ({ source: q.source, content_hash: q.contentHash, reason: q.reason, raw: q.raw, deliveries: q.deliveries })),
  );
  const { rows } = await sql<{ inserted: number; duplicates: number; quarantined: number }>`${prepared}
    with quarantined as (
      insert into webhook_quarantine (source, content_hash, reason, raw, deliveries, received_at, last_received_at)
      select q.source, q.content_hash, q.reason, q.raw, q.deliveries, ${at}::timestamptz, ${at}::timestamptz
      from jsonb_to_recordset(${quarantined}::jsonb) as q(source text, content_hash text, reason text, raw jsonb, deliveries integer)
      order by q.content_hash
      on conflict (content_hash) do update set
        deliveries = webhook_quarantine.deliveries + excluded.deliveries,
        last_received_at = greatest(webhook_quarantine.last_received_at, excluded.last_received_at)
      returning 1
    ), stored as (
      insert into webhook_events (source, dedup_key, portal_id, app_id, event_id, subscription_id, subscription_type,
        object_type, object_id, occurred_at, first_attempt, last_attempt, deliveries, payload,
        received_at, last_received_at, next_attempt_at)
      select e.source, e.dedup_key, e.portal_id, e.app_id, e.event_id, e.subscription_id, e.subscription_type,
        e.object_type, e.object_id, e.occurred_at, e.first_attempt, e.last_attempt, e.deliveries, e.payload,
        ${at}::timestamptz, ${at}::timestamptz, ${at}::timestamptz
      from jsonb_to_recordset(${events}::jsonb) as e(source text, dedup_key text, portal_id bigint, app_id bigint,
        event_id text, subscription_id bigint, subscription_type text, object_type text, object_id text,
        occurred_at timestamptz, first_attempt integer, last_attempt integer, deliveries integer, payload jsonb)
      order by e.dedup_key
      on conflict (dedup_key) do update set
        first_attempt = least(webhook_events.first_attempt, excluded.first_attempt),
        last_attempt = greatest(webhook_events.last_attempt, excluded.last_attempt),
        deliveries = webhook_events.deliveries + excluded.deliveries,
        last_received_at = greatest(webhook_events.last_received_at, excluded.last_received_at)
      returning (xmax = 0) as inserted
    )
    select (select count(*) from stored where inserted)::int as inserted,
           (select count(*) from stored where not inserted)::int as duplicates,
           (select count(*) from quarantined)::int as quarantined
  `.execute(db);
  const row = rows[0];
  const result = { inserted: row?.inserted ?? 0, duplicates: row?.duplicates ?? 0, quarantined: row?.quarantined ?? 0 };
  if (result.inserted > 0 && !db.isTransaction) void announceStoredEvents(db, load);
  return result;
}

/** Per database handle: the announcement on its way, whether another must follow it, and the newest load to report. */
const announcing = new WeakMap<Kysely<Database>, { again: boolean; sent: Promise<void>; load: (() => number) | undefined }>();

/**
 * Tells listening workers that new events are stored: a NOTIFY on `INBOX_CHANNEL` in a transaction
 * of its own, sent after the storing one committed (so a worker it wakes sees the events), and
 * committed without waiting for its WAL flush, since it carries nothing to keep. Every transaction
 * that notifies holds one lock for the whole server through its commit: with the NOTIFY inside the
 * storing statement, each receiver's commit waited for the one before it to reach disk (under the
 * pipeline benchmark's flood, a fifth of the storing statements sampled were waiting on that lock).
 * Calls while one is on its way coalesce into one more after it, so a flood of stores sends about
 * one notification per round trip. A receiver passes its `load` (see flood.ts), read as each
 * notification is sent; without one the payload is empty. Resolves once a notification sent
 * after this call has committed; never rejects: if it fails, the worker's idle poll finds the events.
 */
export function announceStoredEvents(db: Kysely<Database>, load?: () => number): Promise<void> {
  const pending = announcing.get(db);
  if (pending) {
    pending.again = true;
    pending.load = load ?? pending.load;
    return pending.sent;
  }
  const state = { again: false, sent: Promise.resolve(), load };
  announcing.set(db, state);
  state.sent = (async () => {
    try {
      do {
        state.again = false;
        const payload = state.load ? loadPayload(state.load()) : '';
        await sql`${prepared} select pg_notify(${INBOX_CHANNEL}, ${payload}), set_config('synchronous_commit', 'off', true)`.execute(db);
      } while (state.again);
    } catch {
      // The database is away or the handle closing: the idle poll covers it.
    } finally {
      announcing.delete(db);
    }
  })();
  return state.sent;
}

function eventRecord(e: IncomingEvent) {
  return {
    source: e.source,
    dedup_key: e.dedupKey,
    portal_id: e.portalId,
    app_id: e.appId,
    event_id: e.eventId,
    subscription_id: e.subscriptionId,
    subscription_type: e.subscriptionType,
    object_type: e.objectType,
    object_id: e.objectId,
    occurred_at: e.occurredAt === null ? null : new Date(e.occurredAt).toISOString(),
    first_attempt: e.firstAttempt,
    last_attempt: e.lastAttempt,
    deliveries: e.deliveries,
    payload: e.payload,
  };
}

/** An event (`e`) that waits for processing: neither processed nor given up on (what the queue holds). */
const WAITING = sql<boolean>`e.processed_at is null and e.failed_at is null`;

/**
 * Takes out of the queue the ids `ids` selects. A statement that also changes the events changes
 * them first and dequeues what its update returned (a CTE of it): every such statement takes the
 * event's row lock before the queue entry's, so two of them cannot deadlock.
 */
function dequeue(ids: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`delete from webhook_pending where id = any(array(${ids}))`;
}

/** A lane's share of the queue: the events whose object's share (`webhook_pending.share`) is `lane` modulo `lanes`. */
export interface ClaimShare {
  lane: number;
  lanes: number;
}

/** Which due events a claim takes: `limit` at most, due at `now`, with attempts left; `share`, see `dueEvents`. */
export interface DueEvents {
  now: Date;
  limit: number;
  maxAttempts: number;
  /**
   * Take this lane's share first and the other lanes' only to fill the batch (without it, or with
   * one lane: every event alike). A worker's lanes then apply disjoint sets of objects, so none
   * waits for another's mirror row locks (see the processor service).
   */
  share?: ClaimShare;
}

/**
 * The queue's first `limit` due events (not leased or waiting for a retry, attempts left), oldest
 * first, locked (`FOR UPDATE SKIP LOCKED`: other workers skip them until the transaction ends).
 * With a share of several lanes: the lane's own events first, then, only if those come back
 * short, the others' (a `UNION ALL` under one `LIMIT`: its second walk starts only when the first
 * ends), so a short batch still means the whole queue was walked. Each walk is the queue's
 * primary key in id order, the share read from the queue's row, each remaining id looked up in
 * the inbox's: a subquery the planner cannot turn into a join (`offset 0`), so no plan reads
 * either table whole, however large and whatever its statistics. The queue's rows are put in
 * order before the lookups, in a subquery of their own, which the share's filter cannot enter:
 * where a short queue is cheaper to sort than to walk, a sort of the lookups' results would lock
 * every queued event to return `limit` of them, and another worker's claim meanwhile would find
 * nothing. The lock is on the event's row, whose conditions Postgres checks again once it holds
 * it: an event another worker leased, deferred or marked processed since this statement's
 * snapshot is passed over.
 */
function dueEvents(columns: readonly string[], options: DueEvents) {
  const walk = (mine: RawBuilder<boolean>) => sql`(select ${sql.join(columns.map((column) => sql.ref(`e.${column}`)))}
    from (select id, share from webhook_pending order by id offset 0) p
    cross join lateral (
      select ${sql.join(columns.map(claimedColumn))} from webhook_events e
      where e.id = p.id and e.next_attempt_at <= ${options.now}::timestamptz and e.attempts < ${options.maxAttempts}::int and ${WAITING}
      offset 0
      for update skip locked
    ) e
    where ${mine}
    order by p.id limit ${options.limit}::int)`;
  const share = options.share;
  if (share === undefined || share.lanes <= 1) return walk(sql`true`);
  const own = sql<boolean>`p.share % ${share.lanes}::int = ${share.lane}::int`;
  return sql`select * from (${walk(own)} union all ${walk(sql`not (${own})`)}) due limit ${options.limit}::int`;
}

/**
 * Claims up to `limit` due events, oldest first (see `dueEvents`; several workers never take the
 * same one); the claim is a lease (`next_attempt_at` pushed to `leaseUntil`, the attempt
 * counted), so a worker that dies mid-batch only delays its events. Events already claimed
 * `maxAttempts` times are left to `failAbandonedWebhookEvents`. One statement.
 */
export async function claimWebhookEvents(
  db: Kysely<Database>,
  options: DueEvents & { leaseUntil: Date },
): Promise<ClaimedEvent[]> {
  const { rows } = await sql<ClaimedEvent>`${prepared}
    update webhook_events set attempts = attempts + 1, next_attempt_at = ${options.leaseUntil}::timestamptz
    where id = any(array(${dueEvents(['id'], options)}))
    returning ${sql.join(CLAIMED_COLUMNS.map(claimedColumn))}`.execute(db);
  return rows.sort((a, b) => a.id - b.id);
}

/**
 * Locks up to `limit` due events, oldest first (see `dueEvents`), for the caller's transaction,
 * without writing them. The transaction applies what it can and marks those events processed, so
 * an event that needs no HubSpot read costs the inbox one write; `leaseWebhookEvents` takes the
 * rest out for longer. A prepared statement.
 */
export async function lockDueWebhookEvents(trx: Transaction<Database>, options: DueEvents): Promise<ClaimedEvent[]> {
  const { rows } = await sql<ClaimedEvent>`${prepared} ${dueEvents(CLAIMED_COLUMNS, options)}`.execute(trx);
  return rows;
}

/**
 * Leases locked events until `until` and counts the attempt: their work outlives the claiming
 * transaction (a HubSpot read), so a worker that dies meanwhile only delays them.
 */
export async function leaseWebhookEvents(trx: Transaction<Database>, ids: readonly number[], until: Date): Promise<void> {
  if (ids.length === 0) return;
  await sql`${prepared}
    update webhook_events set attempts = attempts + 1, next_attempt_at = ${until}::timestamptz
    where id = any(${arrayLiteral(ids)}::int8[])`.execute(trx);
}

/**
 * Marks events processed and takes them out of the queue; call in the transaction that applied
 * their observations. With `countAttempt` the processing attempt is counted here (events locked,
 * not leased). One prepared statement, the ids as one array parameter.
 */
export async function markWebhookEventsProcessed(trx: Transaction<Database>, ids: readonly number[], now: Date, countAttempt = false): Promise<void> {
  if (ids.length === 0) return;
  await sql`${prepared}
    with marked as (
      update webhook_events set processed_at = ${now}::timestamptz, error = null, attempts = attempts + ${countAttempt ? 1 : 0}::int
      where id = any(${arrayLiteral(ids)}::int8[])
      returning id
    )
    ${dequeue(sql`select id from marked`)}`.execute(trx);
}

/** What a processed event's payload becomes once its object's values are erased. */
export const ERASED_PAYLOAD = { erased: true } as const;
const ERASED_JSON = JSON.stringify(ERASED_PAYLOAD);

/**
 * Replaces the stored payloads of processed events about `refs` (objects the mirror has erased
 * after a privacy deletion), and about the ids merged into them, with ERASED_PAYLOAD: property
 * values, workflow and Paragon records must not outlive the deletion until the inbox's retention
 * removes the rows. Unprocessed events keep theirs until they are applied (and are erased then).
 * Call in the applying transaction.
 */
export async function eraseWebhookPayloads(trx: Transaction<Database>, refs: readonly ObjectRef[]): Promise<number> {
  if (refs.length === 0) return 0;
  const result = await sql`
    with recursive erased(portal_id, object_type, object_id) as (
      select * from ${refsTable(refs, 'r')}
      union
      -- Merge redirects chain (a → b → c): the person's events under every earlier id.
      select o.portal_id, o.object_type, o.object_id from hubspot_objects o
      join erased e on o.portal_id = e.portal_id and o.object_type = e.object_type and o.merged_into = e.object_id
    )
    update webhook_events w set payload = ${ERASED_JSON}::jsonb
    from erased e
    where w.portal_id = e.portal_id and w.object_type = e.object_type and w.object_id = e.object_id
      and w.processed_at is not null and w.payload <> ${ERASED_JSON}::jsonb`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Puts claimed events back until `until` without counting the claim as an attempt: their work
 * could not start (the HubSpot account is paused), which says nothing about the events.
 * `leased`: the claim counted an attempt, which is taken back.
 */
export async function deferWebhookEvents(db: Kysely<Database>, ids: readonly number[], until: Date, reason: string, leased: boolean): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_events')
    .set((eb) => ({ attempts: eb('attempts', '-', leased ? 1 : 0), next_attempt_at: until, error: reason }))
    .where('id', 'in', ids)
    .execute();
}

export interface WebhookFailure {
  id: number;
  error: string;
  /** When to try again; null gives up (the event stays, `failed_at` set, visible in status). */
  retryAt: Date | null;
}

/** Records failed processing attempts: the error, and the retry time or the give-up (out of the queue). One statement. */
export async function markWebhookEventsFailed(db: Kysely<Database>, failures: readonly WebhookFailure[], now: Date): Promise<void> {
  if (failures.length === 0) return;
  const rows = JSON.stringify(
    failures.map((f) => ({ id: f.id, error: f.error.slice(0, 2000), next_attempt_at: (f.retryAt ?? now).toISOString(), failed_at: f.retryAt ? null : now.toISOString() })),
  );
  await sql`
    with failed as (
      update webhook_events w set error = f.error, next_attempt_at = f.next_attempt_at, failed_at = f.failed_at
      from jsonb_to_recordset(${rows}::jsonb) as f(id bigint, error text, next_attempt_at timestamptz, failed_at timestamptz)
      where w.id = f.id and w.processed_at is null
      returning w.id, w.failed_at
    )
    -- Given up on: out of the queue.
    ${dequeue(sql`select id from failed where failed_at is not null`)}
  `.execute(db);
}

/**
 * Gives up on events whose every attempt ended without an outcome (the worker died or was killed
 * mid-batch each time: a poison event). They become failed, visible in status, and can be redriven.
 */
export async function failAbandonedWebhookEvents(db: Kysely<Database>, now: Date, maxAttempts: number, walk = ABANDONED_WALK): Promise<number> {
  const abandoned = sql<boolean>`${WAITING} and e.attempts >= ${maxAttempts}::int and e.next_attempt_at <= ${now}::timestamptz`;
  const { rows } = await sql<{ abandoned: number }>`
    with abandoned as (
      update webhook_events e set failed_at = ${now}::timestamptz,
        error = coalesce(e.error, 'abandoned: every attempt ended without an outcome (the worker stopped while processing it)')
      where e.id = any(array(${queuedWhere(abandoned, walk)})) and ${abandoned}
      returning e.id
    ), dequeued as (
      ${dequeue(sql`select id from abandoned`)}
    )
    select count(*)::int as abandoned from abandoned`.execute(db);
  return rows[0]!.abandoned;
}

/**
 * How far into the queue the abandoned-event sweep looks: claims take events in id order and pass
 * over the abandoned ones, so these stay at the front, behind at most the events waiting out a
 * lease, a retry or an account's pause.
 */
const ABANDONED_WALK = 10_000;

/** How far into the queue the tidy looks for stale entries each status refresh (the front: the claim's walk starts there). */
const TIDY_WALK = 1_000;

/**
 * Ids of queued events meeting `condition` (on `e`, the event), among the first `walk` entries
 * (default all): the queue's primary key walked, each event probed by its own, as in `dueEvents`.
 */
function queuedWhere(condition: RawBuilder<boolean>, walk?: number) {
  const entries = walk === undefined ? sql`webhook_pending` : sql`(${queueFront(walk)})`;
  return sql`select p.id from ${entries} p cross join lateral (select 1 from webhook_events e where e.id = p.id and ${condition} offset 0) e`;
}

/** The queue's first `walk` entries. */
function queueFront(walk: number) {
  return sql`select id from webhook_pending order by id limit ${walk}::int`;
}

/**
 * Takes out of the queue's first `limit` entries those whose event is processed, given up on or
 * gone: a hand edit of `webhook_events` leaves one, and so does a worker of an earlier release
 * still running while a deploy migrates (it marks events without knowing the queue).
 * The claim passes over them; this keeps the backlog figures true. Returns how many.
 */
export async function tidyWebhookQueue(db: Kysely<Database>, limit = TIDY_WALK): Promise<number> {
  // The front's entries, less those whose event still waits.
  const result = await dequeue(sql`select id from (${queueFront(limit)}) front except ${queuedWhere(WAITING, limit)}`).execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Gives failed events another round of attempts (the `retry` of an operator). Returns how many. */
export async function retryFailedWebhookEvents(db: Kysely<Database>, now: Date): Promise<number> {
  const { rows } = await sql<{ retried: number }>`
    with retried as (
      update webhook_events set failed_at = null, attempts = 0, next_attempt_at = ${now}::timestamptz
      where failed_at is not null and processed_at is null
      returning id, portal_id, object_type, object_id
    ), queued as (
      insert into webhook_pending (id, share)
      select id, webhook_object_share(portal_id, object_type, object_id) from retried on conflict (id) do nothing
    )
    select count(*)::int as retried from retried`.execute(db);
  return rows[0]!.retried;
}

/**
 * Deletes up to `limit` processed events received before `before` (oldest first); returns how
 * many. Unprocessed and failed events are never deleted. Call repeatedly until it returns < limit.
 * Ids follow receipt, so the old events are the start of the primary key: the walk stops at the
 * first event received since `before` (an event a slow request stored a moment out of order waits
 * for the next prune).
 */
export async function pruneWebhookEvents(db: Kysely<Database>, before: Date, limit: number): Promise<number> {
  const result = await sql`
    delete from webhook_events where id in (
      select id from webhook_events
      where id < coalesce((select id from webhook_events where received_at >= ${before}::timestamptz order by id limit 1), 9223372036854775807)
        and received_at < ${before}::timestamptz and processed_at is not null
      order by id limit ${limit}::int)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Deletes up to `limit` quarantined events last received before `before`; returns how many. */
export async function pruneQuarantine(db: Kysely<Database>, before: Date, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('webhook_quarantine')
    .where('id', 'in', (eb) => eb.selectFrom('webhook_quarantine').select('id').where('last_received_at', '<', before).limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export interface WebhookStatus {
  /** Events stored but not yet applied (including ones waiting for a retry). */
  backlog: number;
  /** Age of the oldest of them, in seconds; null when there is none. */
  oldestUnprocessedSeconds: number | null;
  /** Of the backlog, events whose last attempt failed and that wait for a retry; null when not asked for (it probes every queued event). */
  retrying: number | null;
  /** Events given up on after the last attempt (see `webhooks.maxAttempts`). */
  failed: number;
  /** Distinct events in quarantine (failed validation), and their deliveries. */
  quarantined: number;
  quarantinedDeliveries: number;
}

/**
 * The inbox's figures for `hubsync status` and (without `retrying`, which probes every queued
 * event: a second of database time every refresh with a million-event backlog) the metrics line.
 */
export async function webhookStatus(db: Kysely<Database>, now: Date = new Date(), options: { retrying?: boolean } = {}): Promise<WebhookStatus> {
  const { rows } = await sql<{ backlog: number; oldest: Date | null; retrying: number | null; failed: number; quarantined: number; qdeliveries: number | null }>`
    select
      (select count(*) from webhook_pending)::int as backlog,
      -- Ids follow receipt: the first queued id is one index entry and one row, however large the backlog.
      (select received_at from webhook_events where id = (select min(id) from webhook_pending)) as oldest,
      ${options.retrying === false ? sql`null::int` : sql`(select count(*) from (${queuedWhere(sql`e.error is not null`)}) r)::int`} as retrying,
      (select count(*) from webhook_events where failed_at is not null and processed_at is null)::int as failed,
      (select count(*) from webhook_quarantine)::int as quarantined,
      (select sum(deliveries) from webhook_quarantine)::int as qdeliveries
  `.execute(db);
  const row = rows[0]!;
  const oldest = row.oldest === null ? null : new Date(row.oldest);
  return {
    backlog: row.backlog,
    oldestUnprocessedSeconds: oldest === null ? null : Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000)),
    retrying: row.retrying,
    failed: row.failed,
    quarantined: row.quarantined,
    quarantinedDeliveries: row.qdeliveries ?? 0,
  };
}

export interface QuarantineReason {
  source: string;
  reason: string;
  /** Distinct events quarantined for this reason, and their deliveries. */
  events: number;
  deliveries: number;
  lastReceivedAt: Date;
}

/** The most recent quarantine reasons with their counts, for `hubsync status`. */
export async function quarantineReasons(db: Kysely<Database>, limit = 10): Promise<QuarantineReason[]> {
  const rows = await db
    .selectFrom('webhook_quarantine')
    .select((eb) => [
      'source',
      'reason',
      eb.fn.countAll<number>().as('events'),
      eb.fn.sum<number>('deliveries').as('deliveries'),
      eb.fn.max('last_received_at').as('last_received_at'),
    ])
    .groupBy(['source', 'reason'])
    .orderBy('last_received_at', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    source: row.source,
    reason: row.reason,
    events: Number(row.events),
    deliveries: Number(row.deliveries),
    lastReceivedAt: new Date(row.last_received_at),
  }));
}

/**
 * The journal's newest app installs and uninstalls, for status. The filter is written as the
 * partial index `webhook_events_app_events_idx` states it (literals, not parameters, so the
 * planner can match it): a few index entries, not a scan of the whole inbox.
 */
export async function latestAppEvents(db: Kysely<Database>, limit: number): Promise<Pick<WebhookEventRow, 'subscription_type' | 'portal_id' | 'occurred_at'>[]> {
  const { rows } = await sql<Pick<WebhookEventRow, 'subscription_type' | 'portal_id' | 'occurred_at'>>`
    select subscription_type, portal_id, occurred_at from webhook_events
    where source = 'journal' and subscription_type in ('journal.APP_INSTALL', 'journal.APP_UNINSTALL')
    order by occurred_at desc limit ${limit}::int`.execute(db);
  return rows;
}
