/** Queries on change_ledger: recording sightings and the coverage/lag report built on them. */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { LagStats, LedgerChange, LedgerGroupReport, LedgerRange, LedgerReport } from './ledger.ts';
import type { Via } from './observation.ts';
import { arrayLiteral, msToTimestamp } from '../db/sql.ts';
import type { Database } from '../db/schema.ts';

/**
 * The INSERT that merges changes into the ledger (for `writeMirror`): per path the earliest sight
 * wins, and the first path is the one with the earliest sight (ties by name), so the stored
 * answer does not depend on which batch arrived first. `changes` must be unique per key and
 * sorted (as `reduceSightings` returns them) so concurrent writers lock rows in the same order.
 */
export function ledgerUpsert(changes: readonly LedgerChange[]): RawBuilder<unknown> {
  const column = (pick: (c: LedgerChange) => string | number | boolean | null): string => arrayLiteral(changes.map(pick));
  const seen = (via: Via) => column((c) => c.seenAt[via] ?? null);
  return sql`
    insert into change_ledger as l (portal_id, object_type, object_id, property, occurred_at, first_seen_via, first_seen_at,
      seen_by_webhook_at, seen_by_poll_at, seen_by_hydration_at, seen_by_workflow_at, seen_by_paragon_at)
    select r.portal_id, r.object_type, r.object_id, r.property, ${msToTimestamp('r.occurred_at')}, r.first_seen_via,
      ${msToTimestamp('r.first_seen_at')}, ${msToTimestamp('r.webhook')}, ${msToTimestamp('r.poll')}, ${msToTimestamp('r.hydration')},
      ${msToTimestamp('r.workflow')}, ${msToTimestamp('r.paragon')}
    -- In the order given (key order), so concurrent writers take ledger row locks in the same order.
    from unnest(
      ${column((c) => c.portalId)}::int8[], ${column((c) => c.objectType)}::text[], ${column((c) => c.objectId)}::text[],
      ${column((c) => c.property)}::text[], ${column((c) => c.version)}::int8[], ${column((c) => c.firstSeenVia)}::text[],
      ${column((c) => c.firstSeenAt)}::int8[], ${seen('webhook')}::int8[], ${seen('poll')}::int8[], ${seen('hydration')}::int8[],
      ${seen('workflow')}::int8[], ${seen('paragon')}::int8[], ${column((c) => c.confirmOnly)}::bool[]
    ) as r(portal_id, object_type, object_id, property, occurred_at, first_seen_via, first_seen_at, webhook, poll, hydration,
      workflow, paragon, confirm_only)
    -- A confirming read adds its sight to a known change but never creates one.
    where not r.confirm_only or exists (
      select 1 from change_ledger e
      where (e.portal_id, e.object_type, e.object_id, e.property, e.occurred_at)
        = (r.portal_id, r.object_type, r.object_id, r.property, ${msToTimestamp('r.occurred_at')}))
    on conflict (portal_id, object_type, object_id, property, occurred_at) do update set
      first_seen_via = case when (excluded.first_seen_at, excluded.first_seen_via) < (l.first_seen_at, l.first_seen_via)
        then excluded.first_seen_via else l.first_seen_via end,
      first_seen_at = least(l.first_seen_at, excluded.first_seen_at),
      seen_by_webhook_at = least(l.seen_by_webhook_at, excluded.seen_by_webhook_at),
      seen_by_poll_at = least(l.seen_by_poll_at, excluded.seen_by_poll_at),
      seen_by_hydration_at = least(l.seen_by_hydration_at, excluded.seen_by_hydration_at),
      seen_by_workflow_at = least(l.seen_by_workflow_at, excluded.seen_by_workflow_at),
      seen_by_paragon_at = least(l.seen_by_paragon_at, excluded.seen_by_paragon_at)
      -- A re-delivery that teaches nothing new leaves the row (and its WAL) alone.
      where excluded.first_seen_at < l.first_seen_at
        or excluded.seen_by_webhook_at < coalesce(l.seen_by_webhook_at, 'infinity')
        or excluded.seen_by_poll_at < coalesce(l.seen_by_poll_at, 'infinity')
        or excluded.seen_by_hydration_at < coalesce(l.seen_by_hydration_at, 'infinity')
        or excluded.seen_by_workflow_at < coalesce(l.seen_by_workflow_at, 'infinity')
        or excluded.seen_by_paragon_at < coalesce(l.seen_by_paragon_at, 'infinity')`;
}

/**
 * Deletes up to `limit` ledger rows of changes that occurred before `before` (the ledger is
 * evidence, not history). One portal and object type at a time through the primary key (which
 * leads with portal, type, occurred_at), the pairs found by a skip scan of it, so no step reads
 * the whole table.
 * Returns how many rows went.
 */
export async function pruneLedger(db: Kysely<Database>, before: Date, limit: number): Promise<number> {
  const { rows: pairs } = await sql<{ portal_id: number; object_type: string }>`
    with recursive pairs(portal_id, object_type) as (
      (select portal_id, object_type from change_ledger order by portal_id, object_type limit 1)
      union all
      select next.portal_id, next.object_type from pairs p cross join lateral (
        select l.portal_id, l.object_type from change_ledger l
        where (l.portal_id, l.object_type) > (p.portal_id, p.object_type)
        order by l.portal_id, l.object_type limit 1) next
    )
    select portal_id, object_type from pairs`.execute(db);
  let deleted = 0;
  for (const pair of pairs) {
    if (deleted >= limit) break;
    const result = await sql`
      delete from change_ledger where ctid = any(array(
        select ctid from change_ledger
        where portal_id = ${pair.portal_id} and object_type = ${pair.object_type} and occurred_at < ${before}
        limit ${limit - deleted}))`.execute(db);
    deleted += Number(result.numAffectedRows ?? 0);
  }
  return deleted;
}

interface ReportRow {
  total: number;
  portal_id: number | null;
  object_type: string | null;
  changes: number;
  seen_by_webhook: number;
  seen_by_poll: number;
  webhook_before_poll: number;
  missed_by_webhook: number;
  webhook_p50: number | null;
  webhook_p95: number | null;
  webhook_max: number | null;
  poll_p50: number | null;
  poll_p95: number | null;
  poll_max: number | null;
}

/**
 * How the paths did on the changes that occurred in [since, until), per portal and object type
 * and in total: webhook coverage, the share webhooks delivered no later than polling, changes
 * only polling saw, and each path's lag (first sight − occurred_at) at p50/p95/max.
 */
export async function ledgerReport(db: Kysely<Database>, range: LedgerRange): Promise<LedgerReport> {
  const webhookLag = sql`extract(epoch from (pushed_at - occurred_at))::float8 * 1000`;
  const pollLag = sql`extract(epoch from (seen_by_poll_at - occurred_at))::float8 * 1000`;
  const { rows } = await sql<ReportRow>`
    with c as (
      select portal_id, object_type, occurred_at, seen_by_poll_at,
        -- The push side: webhooks, hydration reads they trigger, workflow posts, Paragon triggers.
        least(seen_by_webhook_at, seen_by_hydration_at, seen_by_workflow_at, seen_by_paragon_at) as pushed_at
      from change_ledger
      where occurred_at >= ${range.since} and occurred_at < ${range.until}
        ${range.portalId !== undefined ? sql`and portal_id = ${range.portalId}` : sql``}
        ${range.objectType !== undefined ? sql`and object_type = ${range.objectType}` : sql``}
        ${range.propertiesOnly ? sql`and property not like '@%'` : sql``}
    )
    select grouping(portal_id, object_type) as total, portal_id, object_type,
      count(*) as changes,
      count(*) filter (where pushed_at is not null) as seen_by_webhook,
      count(*) filter (where seen_by_poll_at is not null) as seen_by_poll,
      count(*) filter (where pushed_at <= coalesce(seen_by_poll_at, 'infinity')) as webhook_before_poll,
      count(*) filter (where pushed_at is null and seen_by_poll_at is not null) as missed_by_webhook,
      percentile_cont(0.5) within group (order by ${webhookLag}) as webhook_p50,
      percentile_cont(0.95) within group (order by ${webhookLag}) as webhook_p95,
      max(${webhookLag}) as webhook_max,
      percentile_cont(0.5) within group (order by ${pollLag}) as poll_p50,
      percentile_cont(0.95) within group (order by ${pollLag}) as poll_p95,
      max(${pollLag}) as poll_max
    from c
    group by grouping sets ((portal_id, object_type), ())
    order by total, portal_id, object_type`.execute(db);
  const groups = rows.filter((r) => Number(r.total) === 0).map(toGroup);
  const totalRow = rows.find((r) => Number(r.total) !== 0);
  return {
    since: range.since,
    until: range.until,
    total: totalRow ? { ...toGroup(totalRow), portalId: null, objectType: null } : emptyGroup(),
    groups,
  };
}

/** A change some path saw but webhooks never delivered. */
export interface MissedChange {
  portalId: number;
  objectType: string;
  objectId: string;
  property: string;
  occurredAt: Date;
  firstSeenVia: Via;
  firstSeenAt: Date;
}

/** Changes in the range no push path delivered (only polling saw them), oldest first. */
export async function missedByWebhook(db: Kysely<Database>, range: LedgerRange, limit = 100): Promise<MissedChange[]> {
  let query = db
    .selectFrom('change_ledger')
    .select(['portal_id', 'object_type', 'object_id', 'property', 'occurred_at', 'first_seen_via', 'first_seen_at'])
    .where('occurred_at', '>=', range.since)
    .where('occurred_at', '<', range.until)
    .where('seen_by_webhook_at', 'is', null)
    .where('seen_by_hydration_at', 'is', null)
    .where('seen_by_workflow_at', 'is', null)
    .where('seen_by_paragon_at', 'is', null);
  if (range.portalId !== undefined) query = query.where('portal_id', '=', range.portalId);
  if (range.objectType !== undefined) query = query.where('object_type', '=', range.objectType);
  if (range.propertiesOnly) query = query.where('property', 'not like', '@%');
  const rows = await query.orderBy('occurred_at').orderBy('object_id').limit(limit).execute();
  return rows.map((r) => ({
    portalId: Number(r.portal_id),
    objectType: r.object_type,
    objectId: r.object_id,
    property: r.property,
    occurredAt: r.occurred_at,
    firstSeenVia: r.first_seen_via as Via,
    firstSeenAt: r.first_seen_at,
  }));
}

function toGroup(row: ReportRow): LedgerGroupReport {
  const changes = Number(row.changes);
  const seenByWebhook = Number(row.seen_by_webhook);
  const webhookBeforePoll = Number(row.webhook_before_poll);
  return {
    portalId: row.portal_id === null ? null : Number(row.portal_id),
    objectType: row.object_type,
    changes,
    seenByWebhook,
    seenByPoll: Number(row.seen_by_poll),
    webhookBeforePoll,
    missedByWebhook: Number(row.missed_by_webhook),
    webhookCoverage: changes > 0 ? seenByWebhook / changes : null,
    webhookFirstShare: changes > 0 ? webhookBeforePoll / changes : null,
    webhookLagMs: lag(row.webhook_p50, row.webhook_p95, row.webhook_max),
    pollLagMs: lag(row.poll_p50, row.poll_p95, row.poll_max),
  };
}

function lag(p50: number | null, p95: number | null, max: number | null): LagStats {
  const num = (v: number | null) => (v === null ? null : Number(v));
  return { p50: num(p50), p95: num(p95), max: num(max) };
}

function emptyGroup(): LedgerGroupReport {
  return {
    portalId: null,
    objectType: null,
    changes: 0,
    seenByWebhook: 0,
    seenByPoll: 0,
    webhookBeforePoll: 0,
    missedByWebhook: 0,
    webhookCoverage: null,
    webhookFirstShare: null,
    webhookLagMs: { p50: null, p95: null, max: null },
    pollLagMs: { p50: null, p95: null, max: null },
  };
}
