/** Queries on change_ledger: recording sightings and the coverage/lag report built on them. */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { REPORT_PATHS, type LedgerChange, type LedgerGroupReport, type LedgerRange, type LedgerReport, type PathReport, type ReportPath } from './ledger.ts';
import { VIAS, type Via } from './observation.ts';
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
  const seenColumn = (via: Via) => sql.ref(`seen_by_${via}_at`);
  const each = (part: (via: Via) => RawBuilder<unknown>, separator = sql`, `) => sql.join(VIAS.map(part), separator);
  return sql`
    insert into change_ledger as l (portal_id, object_type, object_id, property, occurred_at, first_seen_via, first_seen_at,
      ${each(seenColumn)})
    select r.portal_id, r.object_type, r.object_id, r.property, ${msToTimestamp('r.occurred_at')}, r.first_seen_via,
      ${msToTimestamp('r.first_seen_at')}, ${each((via) => msToTimestamp(`r.${via}`))}
    -- In the order given (key order), so concurrent writers take ledger row locks in the same order.
    from unnest(
      ${column((c) => c.portalId)}::int8[], ${column((c) => c.objectType)}::text[], ${column((c) => c.objectId)}::text[],
      ${column((c) => c.property)}::text[], ${column((c) => c.version)}::int8[], ${column((c) => c.firstSeenVia)}::text[],
      ${column((c) => c.firstSeenAt)}::int8[], ${each((via) => sql`${column((c) => c.seenAt[via] ?? null)}::int8[]`)},
      ${column((c) => c.confirmOnly)}::bool[]
    ) as r(portal_id, object_type, object_id, property, occurred_at, first_seen_via, first_seen_at, ${sql.raw(VIAS.join(', '))}, confirm_only)
    -- A confirming read adds its sight to a known change but never creates one.
    where not r.confirm_only or exists (
      select 1 from change_ledger e
      where (e.portal_id, e.object_type, e.object_id, e.property, e.occurred_at)
        = (r.portal_id, r.object_type, r.object_id, r.property, ${msToTimestamp('r.occurred_at')}))
    on conflict (portal_id, object_type, object_id, property, occurred_at) do update set
      first_seen_via = case when (excluded.first_seen_at, excluded.first_seen_via) < (l.first_seen_at, l.first_seen_via)
        then excluded.first_seen_via else l.first_seen_via end,
      first_seen_at = least(l.first_seen_at, excluded.first_seen_at),
      ${each((via) => sql`${seenColumn(via)} = least(${sql.ref(`l.seen_by_${via}_at`)}, ${sql.ref(`excluded.seen_by_${via}_at`)})`)}
      -- A re-delivery that teaches nothing new leaves the row (and its WAL) alone.
      where excluded.first_seen_at < l.first_seen_at
        ${each((via) => sql`or ${sql.ref(`excluded.seen_by_${via}_at`)} < coalesce(${sql.ref(`l.seen_by_${via}_at`)}, 'infinity')`, sql` `)}`;
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

type ReportRow = { total: number; portal_id: number | null; object_type: string | null; changes: number; poll_only: number } & Record<
  `${ReportPath}_${'seen' | 'first' | 'p50' | 'p95' | 'max'}`,
  number | null
>;

/**
 * How the paths did on the changes that occurred in [since, until), per portal and object type
 * and in total: per path its coverage, the changes it saw first (ties count for each), the ones
 * it missed, and its lag (first sight − occurred_at) at p50/p95/max.
 */
export async function ledgerReport(db: Kysely<Database>, range: LedgerRange): Promise<LedgerReport> {
  const at = (path: ReportPath) => sql.ref(`${path}_at`);
  const lag = (path: ReportPath) => sql`extract(epoch from (${at(path)} - occurred_at))::float8 * 1000`;
  const others = (path: ReportPath) => sql.join(REPORT_PATHS.filter((p) => p !== path).map((p) => sql`coalesce(${at(p)}, 'infinity')`));
  const figures = REPORT_PATHS.map(
    (path) => sql`
      count(${at(path)}) as ${sql.ref(`${path}_seen`)},
      count(*) filter (where ${at(path)} <= least(${others(path)})) as ${sql.ref(`${path}_first`)},
      percentile_cont(0.5) within group (order by ${lag(path)}) as ${sql.ref(`${path}_p50`)},
      percentile_cont(0.95) within group (order by ${lag(path)}) as ${sql.ref(`${path}_p95`)},
      max(${lag(path)}) as ${sql.ref(`${path}_max`)}`,
  );
  const { rows } = await sql<ReportRow>`
    with c as (
      select portal_id, object_type, occurred_at, seen_by_poll_at as poll_at, seen_by_journal_at as journal_at,
        -- The push side: webhooks, hydration reads they trigger, workflow posts, Paragon triggers.
        least(seen_by_webhook_at, seen_by_hydration_at, seen_by_workflow_at, seen_by_paragon_at) as webhook_at
      from change_ledger
      where occurred_at >= ${range.since} and occurred_at < ${range.until}
        ${range.portalId !== undefined ? sql`and portal_id = ${range.portalId}` : sql``}
        ${range.objectType !== undefined ? sql`and object_type = ${range.objectType}` : sql``}
        ${range.propertiesOnly ? sql`and property not like '@%'` : sql``}
        ${range.groups ? sql`and (portal_id, object_type) in (${range.groups.length > 0 ? sql.join(range.groups.map((g) => sql`(${g.portalId}::int8, ${g.objectType}::text)`)) : sql`(null, null)`})` : sql``}
    )
    select grouping(portal_id, object_type) as total, portal_id, object_type,
      count(*) as changes,
      count(*) filter (where webhook_at is null and journal_at is null) as poll_only,
      ${sql.join(figures)}
    from c
    group by grouping sets ((portal_id, object_type), ())
    order by total, portal_id, object_type`.execute(db);
  const groups = rows.filter((r) => Number(r.total) === 0).map(toGroup);
  const totalRow = rows.find((r) => Number(r.total) !== 0);
  return {
    since: range.since,
    until: range.until,
    total: totalRow ? { ...toGroup(totalRow), portalId: null, objectType: null } : toGroup(EMPTY_ROW),
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
  const num = (v: number | null) => (v === null ? null : Number(v));
  const share = (n: number) => (changes > 0 ? n / changes : null);
  const path = (p: ReportPath): PathReport => {
    const seen = Number(row[`${p}_seen`] ?? 0);
    const first = Number(row[`${p}_first`] ?? 0);
    return {
      seen,
      first,
      missed: changes - seen,
      coverage: share(seen),
      firstShare: share(first),
      lagMs: { p50: num(row[`${p}_p50`]), p95: num(row[`${p}_p95`]), max: num(row[`${p}_max`]) },
    };
  };
  return {
    portalId: row.portal_id === null ? null : Number(row.portal_id),
    objectType: row.object_type,
    changes,
    paths: { webhook: path('webhook'), journal: path('journal'), poll: path('poll') },
    pollOnly: Number(row.poll_only),
  };
}

const EMPTY_ROW = { total: 1, portal_id: null, object_type: null, changes: 0, poll_only: 0 } as ReportRow;
