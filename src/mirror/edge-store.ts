/**
 * Queries on the association tables (hubspot_associations, hubspot_association_reads). The rule
 * that decides what to write lives in edges.ts; this file only moves rows.
 */
import { sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { HubspotAssociationsTable } from '../db/mirror-tables.ts';
import type { Database } from '../db/schema.ts';
import { arrayLiteral, msToTimestamp, timestampToMs } from '../db/sql.ts';
import { associationKey, readKey, sortTypes, type AssociationRead, type AssociationState, type EdgeNeeds, type EdgeResult, type EdgeState, type ReadPair, type SideKey } from './edges.ts';
import { objectKey, type AssociationTypeSpec, type ObjectRef } from './observation.ts';
import { refsTable } from './store.ts';

/** The `merged_into` of those refs that have a row merged away, keyed by `objectKey`. */
export async function mergedIntoOf(db: Kysely<Database> | Transaction<Database>, refs: readonly ObjectRef[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (refs.length === 0) return found;
  const { rows } = await sql<{ portal_id: number; object_type: string; object_id: string; merged_into: string }>`
    select o.portal_id, o.object_type, o.object_id, o.merged_into
    from hubspot_objects o join ${refsTable(refs, 'k')} on o.portal_id = k.portal_id and o.object_type = k.object_type and o.object_id = k.object_id
    where o.merged_into is not null`.execute(db);
  for (const r of rows) found.set(objectKey({ portalId: Number(r.portal_id), objectType: r.object_type, objectId: r.object_id }), r.merged_into);
  return found;
}

/** How many objects' locks a batch takes before it locks its portals' edges whole (`lockEdgeEnds`). */
const EDGE_LOCKS_PER_BATCH = 1_000;

/**
 * Serialises the batches that change the edges of the same objects: a transaction-scoped advisory
 * lock per object, taken in one global order (of the lock keys), so two batches wait for each
 * other instead of each computing from what the other has not committed yet. `refs` must hold both
 * ends of every side the batch writes (see `applyEdges`): the locks are then the only order
 * batches take the association rows in.
 *
 * Above the lock table's room (Postgres keeps about 64 locks a connection for all sessions to
 * share: a company merged with thousands of contacts would fail with "out of shared memory"), a
 * batch locks its portals' edges whole instead. Every batch first takes its portals' locks, shared
 * when it goes on to lock objects and exclusive when it does not, so the two kinds still exclude
 * each other; the portals' locks come first, in one order, then the objects'.
 */
export async function lockEdgeEnds(trx: Transaction<Database>, refs: readonly ObjectRef[]): Promise<void> {
  if (refs.length === 0) return;
  const objects = [...new Set(refs.map((r) => `hubsync-edge:${r.portalId}:${r.objectType}:${r.objectId}`))];
  const whole = objects.length > EDGE_LOCKS_PER_BATCH;
  const portals = [...new Set(refs.map((r) => `hubsync-edges:${r.portalId}`))];
  // Portals first (rank 0), then objects, each by lock key.
  await sql`select count(case when l.shared then pg_advisory_xact_lock_shared(l.h) else pg_advisory_xact_lock(l.h) end) from (
      select distinct 0 as rank, hashtextextended(k, 0) as h, ${!whole}::boolean as shared from unnest(${arrayLiteral(portals)}::text[]) as k
      union
      select distinct 1, hashtextextended(k, 0), false from unnest(${arrayLiteral(whole ? [] : objects)}::text[]) as k
      order by 1, 2) l`.execute(trx);
}

/** A side as the lock query sends it back through `to_json`: times as epoch ms, the types as parsed JSON. */
type SideRow = Omit<Selectable<HubspotAssociationsTable>, 'version' | 'types_version' | 'association_types' | 'updated_at'> & {
  version: number;
  association_types: AssociationTypeSpec[] | null;
  types_version: number | null;
};

/** The sides and watermarks `needs` names (see `edgeNeeds`). */
export async function loadEdgeState(trx: Transaction<Database>, needs: EdgeNeeds): Promise<EdgeState> {
  const edges = new Map<string, AssociationState>();
  const reads = new Map<string, AssociationRead>();
  const sides = needs.sides.map((s): SideKey => ({ portalId: s.from.portalId, fromObjectType: s.from.objectType, fromObjectId: s.from.objectId, toObjectType: s.to.objectType, toObjectId: s.to.objectId }));
  const conditions: RawBuilder<unknown>[] = [];
  if (needs.objects.length > 0) {
    // Both sides of their edges: a move carries each side's types to its new side.
    const objects = refsTable(needs.objects, 'o');
    conditions.push(sql`(a.portal_id, a.from_object_type, a.from_object_id) in (select portal_id, object_type, object_id from ${objects})`);
    conditions.push(sql`(a.portal_id, a.to_object_type, a.to_object_id) in (select portal_id, object_type, object_id from ${objects})`);
  }
  if (needs.pairs.length > 0) {
    conditions.push(sql`(a.portal_id, a.from_object_type, a.from_object_id, a.to_object_type) in (select * from ${pairsTable(needs.pairs)})`);
  }
  if (sides.length > 0) {
    conditions.push(sql`(a.portal_id, a.from_object_type, a.from_object_id, a.to_object_type, a.to_object_id) in (select * from ${sidesTable(sides)})`);
  }
  if (conditions.length > 0) {
    const { rows } = await sql<{ r: SideRow }>`
      select to_json(l) as r from (
        select a.portal_id, a.from_object_type, a.from_object_id, a.to_object_type, a.to_object_id, a.association_type, a.removed,
          ${timestampToMs('a.version')} as version, a.association_types, ${timestampToMs('a.types_version')} as types_version
        from hubspot_associations a where ${sql.join(conditions, sql` or `)}) l`.execute(trx);
    for (const { r } of rows) {
      const side = toSide(r);
      edges.set(associationKey(side), side);
    }
  }
  const watermarks: RawBuilder<unknown>[] = [];
  if (needs.objects.length > 0) {
    watermarks.push(sql`(r.portal_id, r.object_type, r.object_id) in (select portal_id, object_type, object_id from ${refsTable(needs.objects, 'o')})`);
  }
  const pairs = [...needs.pairs, ...needs.watermarks];
  if (pairs.length > 0) watermarks.push(sql`(r.portal_id, r.object_type, r.object_id, r.to_object_type) in (select * from ${pairsTable(pairs)})`);
  if (watermarks.length > 0) {
    const { rows } = await sql<{ portal_id: number; object_type: string; object_id: string; to_object_type: string; read_at: number }>`
      select r.portal_id, r.object_type, r.object_id, r.to_object_type, ${timestampToMs('r.read_at')} as read_at
      from hubspot_association_reads r where ${sql.join(watermarks, sql` or `)}`.execute(trx);
    for (const r of rows) {
      const read: AssociationRead = { portalId: Number(r.portal_id), objectType: r.object_type, objectId: r.object_id, toObjectType: r.to_object_type, readAt: Number(r.read_at) };
      reads.set(readKey(read), read);
    }
  }
  return { edges, reads };
}

/**
 * Writes what the association rule decided, in one statement: deletes the sides and watermarks of
 * ids merged away, then merges the new sides (their register, newest version and present on a
 * tie; their types, newest) and watermarks (newest) into what is stored, so writers that raced
 * the advisory locks still converge. Returns the sides written.
 */
export async function writeEdges(trx: Transaction<Database>, result: EdgeResult, now: Date): Promise<number> {
  const parts: RawBuilder<unknown>[] = [];
  if (result.deleted.length > 0) {
    parts.push(sql`del as (delete from hubspot_associations a using ${sidesTable(result.deleted)}
      where a.portal_id = k.portal_id and a.from_object_type = k.from_object_type and a.from_object_id = k.from_object_id
        and a.to_object_type = k.to_object_type and a.to_object_id = k.to_object_id)`);
  }
  if (result.deletedReads.length > 0) {
    parts.push(sql`delr as (delete from hubspot_association_reads r using ${pairsTable(result.deletedReads)}
      where r.portal_id = p.portal_id and r.object_type = p.object_type and r.object_id = p.object_id and r.to_object_type = p.to_object_type)`);
  }
  if (result.edges.length > 0) parts.push(sql`ins as (${sideUpsert(result.edges, now)} returning 1)`);
  if (result.reads.length > 0) {
    const r = result.reads;
    parts.push(sql`insr as (insert into hubspot_association_reads as w (portal_id, object_type, object_id, to_object_type, read_at, updated_at)
      select p.portal_id, p.object_type, p.object_id, p.to_object_type, ${msToTimestamp('p.read_at')}, ${now}::timestamptz
      from unnest(${arrayLiteral(r.map((x) => x.portalId))}::int8[], ${arrayLiteral(r.map((x) => x.objectType))}::text[],
        ${arrayLiteral(r.map((x) => x.objectId))}::text[], ${arrayLiteral(r.map((x) => x.toObjectType))}::text[],
        ${arrayLiteral(r.map((x) => x.readAt))}::int8[]) as p(portal_id, object_type, object_id, to_object_type, read_at)
      order by 1, 2, 3, 4
      on conflict (portal_id, object_type, object_id, to_object_type) do update
        set read_at = excluded.read_at, updated_at = excluded.updated_at where excluded.read_at > w.read_at)`);
  }
  if (parts.length === 0) return 0;
  const count = result.edges.length > 0 ? sql`(select count(*) from ins)` : sql`0`;
  const { rows } = await sql<{ written: number }>`with ${sql.join(parts)} select ${count} as written`.execute(trx);
  return Number(rows[0]?.written ?? 0);
}

/** The INSERT merging sides into hubspot_associations; `sides` unique per key, in key order (as the rule returns them). */
function sideUpsert(sides: readonly AssociationState[], now: Date): RawBuilder<unknown> {
  const rows = JSON.stringify(
    sides.map((e) => ({
      portal_id: e.portalId,
      from_object_type: e.fromObjectType,
      from_object_id: e.fromObjectId,
      to_object_type: e.toObjectType,
      to_object_id: e.toObjectId,
      association_type: e.associationType,
      removed: e.removed,
      version: e.version,
      association_types: e.types,
      types_version: e.typesVersion,
    })),
  );
  return sql`
    insert into hubspot_associations as a
      (portal_id, from_object_type, from_object_id, to_object_type, to_object_id, association_type, removed, version,
       association_types, types_version, updated_at)
    select r.portal_id, r.from_object_type, r.from_object_id, r.to_object_type, r.to_object_id, r.association_type, r.removed,
      ${msToTimestamp('r.version')}, r.association_types, ${msToTimestamp('r.types_version')}, ${now}::timestamptz
    from jsonb_to_recordset(${rows}::jsonb) as r(
      portal_id bigint, from_object_type text, from_object_id text, to_object_type text, to_object_id text,
      association_type text, removed boolean, version bigint, association_types jsonb, types_version bigint)
    order by 1, 2, 3, 4, 5
    on conflict (portal_id, from_object_type, from_object_id, to_object_type, to_object_id) do update set
      removed = case when (excluded.version, not excluded.removed) > (a.version, not a.removed) then excluded.removed else a.removed end,
      version = greatest(excluded.version, a.version),
      association_type = excluded.association_type,
      association_types = case when excluded.types_version >= a.types_version or a.types_version is null
        then coalesce(excluded.association_types, a.association_types) else a.association_types end,
      types_version = greatest(excluded.types_version, a.types_version),
      updated_at = excluded.updated_at
    where (excluded.version, not excluded.removed) > (a.version, not a.removed)
      or excluded.types_version >= a.types_version or (a.types_version is null and excluded.types_version is not null)
      or excluded.association_type <> a.association_type`;
}

/** Side keys as a FROM item `k`. */
function sidesTable(sides: readonly SideKey[]): RawBuilder<unknown> {
  return sql`unnest(${arrayLiteral(sides.map((s) => s.portalId))}::int8[], ${arrayLiteral(sides.map((s) => s.fromObjectType))}::text[],
    ${arrayLiteral(sides.map((s) => s.fromObjectId))}::text[], ${arrayLiteral(sides.map((s) => s.toObjectType))}::text[],
    ${arrayLiteral(sides.map((s) => s.toObjectId))}::text[]) as k(portal_id, from_object_type, from_object_id, to_object_type, to_object_id)`;
}

/** `(portal, type, id, to type)` rows as a FROM item `p`. */
function pairsTable(pairs: readonly ReadPair[]): RawBuilder<unknown> {
  return sql`unnest(${arrayLiteral(pairs.map((p) => p.portalId))}::int8[], ${arrayLiteral(pairs.map((p) => p.objectType))}::text[],
    ${arrayLiteral(pairs.map((p) => p.objectId))}::text[], ${arrayLiteral(pairs.map((p) => p.toObjectType))}::text[])
    as p(portal_id, object_type, object_id, to_object_type)`;
}

function toSide(r: SideRow): AssociationState {
  return {
    portalId: Number(r.portal_id),
    fromObjectType: r.from_object_type,
    fromObjectId: r.from_object_id,
    toObjectType: r.to_object_type,
    toObjectId: r.to_object_id,
    associationType: r.association_type,
    removed: r.removed,
    version: Number(r.version),
    types: r.association_types === null ? null : sortTypes(r.association_types),
    typesVersion: r.types_version === null ? null : Number(r.types_version),
  };
}

export type AssociationRow = Selectable<HubspotAssociationsTable>;

/** A stored side as the rule sees it. */
export function toAssociationState(row: AssociationRow): AssociationState {
  return toSide({ ...row, version: row.version.getTime(), types_version: row.types_version?.getTime() ?? null });
}

/** Current (not removed) associations from an object. */
export async function listAssociations(db: Kysely<Database>, ref: ObjectRef, toObjectType?: string): Promise<AssociationState[]> {
  let query = db
    .selectFrom('hubspot_associations')
    .selectAll()
    .where('portal_id', '=', ref.portalId)
    .where('from_object_type', '=', ref.objectType)
    .where('from_object_id', '=', ref.objectId)
    .where('removed', '=', false);
  if (toObjectType) query = query.where('to_object_type', '=', toObjectType);
  const rows = await query.orderBy('to_object_type').orderBy('to_object_id').execute();
  return rows.map(toAssociationState);
}
