/**
 * Queries on the mirror tables (hubspot_objects, hubspot_associations). The rule that decides
 * what to write lives in rule.ts; this file only moves rows.
 */
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { LedgerChange } from './ledger.ts';
import { ledgerUpsert } from './ledger-store.ts';
import { arrayLiteral, msToTimestamp, timestampToMs } from '../db/sql.ts';
import { prepared } from '../db/prepared.ts';
import { untilSettled } from '../db/savepoint.ts';
import { objectKey, type ObjectRef, type Via } from './observation.ts';
import type { MirrorObject } from './registers.ts';
import { isArchived } from './rule.ts';
import type { Database } from '../db/schema.ts';

type Time = Date | number;

/**
 * A stored object row, as a table read returns it (times as Dates) or as the lock returns it
 * (times as epoch ms, which parse much faster).
 */
export interface StoredObjectRow {
  portal_id: number;
  object_type: string;
  object_id: string;
  properties: Record<string, string | null>;
  property_versions: Record<string, number>;
  lifecycle: 'live' | 'deleted' | null;
  merged_into: string | null;
  first_seen_via: string;
  lifecycle_at: Time | null;
  merged_at: Time | null;
  privacy_deleted_at: Time | null;
  gone_at: Time | null;
  hs_created_at: Time | null;
  hs_updated_at: Time | null;
  first_seen_at: Time;
}

/** A stored object as the rule sees it. */
export function toMirrorObject(row: StoredObjectRow): MirrorObject {
  return {
    portalId: Number(row.portal_id),
    objectType: row.object_type,
    objectId: row.object_id,
    properties: row.properties,
    propertyVersions: row.property_versions,
    lifecycle: row.lifecycle,
    lifecycleVersion: ms(row.lifecycle_at),
    mergedInto: row.merged_into,
    mergedVersion: ms(row.merged_at),
    privacyDeletedAt: ms(row.privacy_deleted_at),
    goneAt: ms(row.gone_at),
    hsCreatedAt: ms(row.hs_created_at),
    hsUpdatedAt: ms(row.hs_updated_at),
    firstSeenVia: row.first_seen_via as Via,
    firstSeenAt: ms(row.first_seen_at),
  };
}

/**
 * Makes sure a row exists for every ref and locks them all, in key order (`refs` sorted with
 * `compareRefs`), together with the rows redirected to any of `mergedAway` (merged into them: a
 * batch that merges those ids away re-points them at the final survivor). Returns the rows that
 * existed before, keyed by `objectKey`; refs missing from the map are new, and their placeholder
 * rows must be overwritten by `writeMirror` in the same transaction.
 *
 * Every batch takes its inserts and then its row locks in one global key order, so batches
 * touching the same objects serialise without deadlocks or lost updates. The redirected rows are
 * part of that one order: locked in a second step, after the batch's own rows, they deadlocked
 * with a batch holding one of them and waiting for one of ours. So they are read first and
 * locked with the rest; a redirect to those ids committed in between (its writer held the merged
 * id or a row redirected to it, ours now, so the set is stable once we hold them) undoes the locks
 * to a savepoint and takes them again, the new rows included.
 */
export async function lockObjects(
  trx: Transaction<Database>,
  refs: readonly ObjectRef[],
  now: Date,
  mergedAway: readonly ObjectRef[] = [],
): Promise<Map<string, MirrorObject>> {
  if (refs.length === 0) return new Map();
  if (mergedAway.length === 0) return (await lockRows(trx, refs, [], now)).stored;
  let redirected = await redirectedTo(trx, mergedAway);
  return untilSettled(trx, 'hubsync_lock_objects', async () => {
    const { stored, locked } = await lockRows(trx, refs, redirected, now);
    const current = await redirectedTo(trx, mergedAway);
    if (!current.every((ref) => locked.has(objectKey(ref)))) {
      redirected = current;
      return undefined;
    }
    // A row read as redirected may have been re-pointed elsewhere before we locked it.
    const keep = new Set([...refs, ...current].map(objectKey));
    for (const key of stored.keys()) if (!keep.has(key)) stored.delete(key);
    return stored;
  });
}

/**
 * Inserts placeholders for the missing `refs` and locks the rows of `refs` and `others` (rows
 * that exist), all in key order. The common case (every row exists) is a single SELECT … FOR NO
 * KEY UPDATE. It locks nothing when any row is missing, because inserting while holding locks
 * taken out of order could deadlock; then placeholders are inserted first (ON CONFLICT DO NOTHING
 * waits out a concurrent insert of the same key) and everything is locked, now seeing every row,
 * ours and theirs. Returns the rows that existed before and the keys of every row locked.
 */
async function lockRows(
  trx: Transaction<Database>,
  refs: readonly ObjectRef[],
  others: readonly ObjectRef[],
  now: Date,
): Promise<{ stored: Map<string, MirrorObject>; locked: Set<string> }> {
  const stored = new Map<string, MirrorObject>();
  const wanted = new Map([...refs, ...others].map((ref) => [objectKey(ref), ref]));
  const keys = refsTable([...wanted.values()], 'k');
  let rows = await selectForUpdate(trx, keys, true);
  const fresh = new Set<string>();
  if (rows.length < wanted.size) {
    const inserted = await sql<{ portal_id: number; object_type: string; object_id: string }>`${prepared}
      insert into hubspot_objects (portal_id, object_type, object_id, first_seen_via, first_seen_at, updated_at)
      select k.portal_id, k.object_type, k.object_id, '', ${now}, ${now}
      from ${refsTable(refs, 'k')}
      order by 1, 2, 3
      on conflict do nothing
      returning portal_id, object_type, object_id`.execute(trx);
    for (const r of inserted.rows) fresh.add(objectKey({ portalId: Number(r.portal_id), objectType: r.object_type, objectId: r.object_id }));
    rows = await selectForUpdate(trx, keys, false);
  }
  const locked = new Set<string>();
  for (const row of rows) {
    const object = toMirrorObject(row);
    const key = objectKey(object);
    locked.add(key);
    if (!fresh.has(key)) stored.set(key, object);
  }
  return { stored, locked };
}

/** The columns of a locked row (`StoredObjectRow`, times as epoch ms) of `hubspot_objects o`. */
const lockedColumns = sql`o.portal_id, o.object_type, o.object_id, o.properties, o.property_versions, o.lifecycle, o.merged_into,
  o.first_seen_via, ${timestampToMs('o.lifecycle_at')} as lifecycle_at, ${timestampToMs('o.merged_at')} as merged_at,
  ${timestampToMs('o.privacy_deleted_at')} as privacy_deleted_at, ${timestampToMs('o.gone_at')} as gone_at,
  ${timestampToMs('o.hs_created_at')} as hs_created_at, ${timestampToMs('o.hs_updated_at')} as hs_updated_at,
  ${timestampToMs('o.first_seen_at')} as first_seen_at`;

/** The rows redirected to any of `ids` (merged into them), read without locking them. */
async function redirectedTo(trx: Transaction<Database>, ids: readonly ObjectRef[]): Promise<ObjectRef[]> {
  const { rows } = await sql<{ portal_id: number; object_type: string; object_id: string }>`${prepared}
    select o.portal_id, o.object_type, o.object_id
    from hubspot_objects o
    where (o.portal_id, o.object_type, o.merged_into) in (select portal_id, object_type, object_id from ${refsTable(ids, 'k')})`.execute(trx);
  return rows.map((r) => ({ portalId: Number(r.portal_id), objectType: r.object_type, objectId: r.object_id }));
}

/**
 * Locks and reads the rows of `keys`; with `allOrNothing`, locks and returns nothing unless every
 * key has a row. Each row travels as one JSON value: the embedded database reads a hundred
 * fourteen-column rows field by field at several times the cost (a quarter of its batch time
 * here), while Postgres pays about 2% of a batch for the conversion.
 */
async function selectForUpdate(trx: Transaction<Database>, keys: RawBuilder<unknown>, allOrNothing: boolean): Promise<StoredObjectRow[]> {
  const { rows } = await sql<{ r: StoredObjectRow }>`${prepared}
    with k as (select * from ${keys})
    select to_json(l) as r from (
      select ${lockedColumns}
      from hubspot_objects o
      where (o.portal_id, o.object_type, o.object_id) in (select portal_id, object_type, object_id from k)
        ${
          allOrNothing
            ? sql`and not exists (
                select 1 from k where not exists (
                  select 1 from hubspot_objects x
                  where x.portal_id = k.portal_id and x.object_type = k.object_type and x.object_id = k.object_id))`
            : sql``
        }
      order by o.portal_id, o.object_type, o.object_id
      for no key update of o) l`.execute(trx);
  return rows.map((row) => row.r);
}

export interface MirrorWrite {
  /** New states of rows locked by `lockObjects`. */
  objects: readonly MirrorObject[];
  ledger: readonly LedgerChange[];
}

export interface MirrorWriteResult {
  objectsWritten: number;
  ledgerChanges: number;
}

/**
 * Writes a batch's outcome in ONE statement (data-modifying CTEs, only the parts that have rows):
 * update the locked rows, merge the ledger changes. (Association edges: `writeEdges`.)
 */
export async function writeMirror(trx: Transaction<Database>, write: MirrorWrite, now: Date): Promise<MirrorWriteResult> {
  const parts: RawBuilder<unknown>[] = [];
  const counts: RawBuilder<unknown>[] = [];
  if (write.objects.length > 0) {
    parts.push(sql`upd as (${objectUpdate(write.objects, now)} returning 1)`);
    counts.push(sql`(select count(*) from upd) as updated`);
  }
  if (write.ledger.length > 0) {
    parts.push(sql`led as (${ledgerUpsert(write.ledger)} returning 1)`);
    counts.push(sql`(select count(*) from led) as ledger`);
  }
  if (parts.length === 0) return { objectsWritten: 0, ledgerChanges: 0 };
  const { rows } = await sql<{ updated?: number; ledger?: number }>`${prepared}
    with ${sql.join(parts)} select ${sql.join(counts)}`.execute(trx);
  const result = rows[0] ?? {};
  return { objectsWritten: Number(result.updated ?? 0), ledgerChanges: Number(result.ledger ?? 0) };
}

/**
 * The UPDATE of locked rows to their new states. Columns travel as parallel arrays (unnest):
 * cheaper for Postgres than a JSON document of records, and ordered as `objects` is (key order).
 */
function objectUpdate(objects: readonly MirrorObject[], now: Date): RawBuilder<unknown> {
  const column = (pick: (o: MirrorObject) => string | number | boolean | null): string => arrayLiteral(objects.map(pick));
  return sql`
    update hubspot_objects o set
      properties = j.properties, property_versions = j.property_versions, archived = j.archived,
      merged_into = j.merged_into, merged_at = ${msToTimestamp('j.merged_at')}, lifecycle = j.lifecycle,
      lifecycle_at = ${msToTimestamp('j.lifecycle_at')}, privacy_deleted_at = ${msToTimestamp('j.privacy_deleted_at')},
      gone_at = ${msToTimestamp('j.gone_at')},
      hs_created_at = ${msToTimestamp('j.hs_created_at')}, hs_updated_at = ${msToTimestamp('j.hs_updated_at')},
      first_seen_via = j.first_seen_via, first_seen_at = ${msToTimestamp('j.first_seen_at')}, updated_at = ${now}
    from unnest(
      ${column((o) => o.portalId)}::int8[], ${column((o) => o.objectType)}::text[], ${column((o) => o.objectId)}::text[],
      ${column((o) => JSON.stringify(o.properties))}::jsonb[], ${column((o) => JSON.stringify(o.propertyVersions))}::jsonb[],
      ${column(isArchived)}::bool[], ${column((o) => o.mergedInto)}::text[], ${column((o) => o.mergedVersion)}::int8[],
      ${column((o) => o.lifecycle)}::text[], ${column((o) => o.lifecycleVersion)}::int8[],
      ${column((o) => o.privacyDeletedAt)}::int8[], ${column((o) => o.goneAt)}::int8[], ${column((o) => o.hsCreatedAt)}::int8[],
      ${column((o) => o.hsUpdatedAt)}::int8[], ${column((o) => o.firstSeenVia)}::text[], ${column((o) => o.firstSeenAt)}::int8[]
    ) as j(portal_id, object_type, object_id, properties, property_versions, archived, merged_into, merged_at, lifecycle,
      lifecycle_at, privacy_deleted_at, gone_at, hs_created_at, hs_updated_at, first_seen_via, first_seen_at)
    where o.portal_id = j.portal_id and o.object_type = j.object_type and o.object_id = j.object_id`;
}

export interface GetObjectOptions {
  /** Follow merge redirects to the surviving object (default true). */
  followMerges?: boolean;
}

/**
 * One object by id, or undefined. By default an id merged away resolves to the object it was
 * merged into, as HubSpot itself answers for old ids.
 */
export async function getObject(db: Kysely<Database>, ref: ObjectRef, options: GetObjectOptions = {}): Promise<(MirrorObject & { archived: boolean }) | undefined> {
  let current = ref;
  // A chain longer than a handful means a cycle in bad data; stop rather than loop.
  for (let hops = 0; hops < 16; hops++) {
    const row = await db
      .selectFrom('hubspot_objects')
      .selectAll()
      .where((eb) => eb.and({ portal_id: current.portalId, object_type: current.objectType, object_id: current.objectId }))
      .executeTakeFirst();
    if (!row) return undefined;
    const object = toMirrorObject(row);
    if (options.followMerges === false || object.mergedInto === null) return { ...object, archived: row.archived };
    current = { ...current, objectId: object.mergedInto };
  }
  return undefined;
}

function ms(value: Time): number;
function ms(value: Time | null): number | null;
function ms(value: Time | null): number | null {
  return value === null ? null : typeof value === 'number' ? value : value.getTime();
}

/** `refs` as a table for a FROM clause: `unnest(…) as <alias>(portal_id, object_type, object_id)`, in the order given. */
export function refsTable(refs: readonly ObjectRef[], alias: string): RawBuilder<unknown> {
  return sql`unnest(${arrayLiteral(refs.map((r) => r.portalId))}::int8[], ${arrayLiteral(refs.map((r) => r.objectType))}::text[],
    ${arrayLiteral(refs.map((r) => r.objectId))}::text[]) as ${sql.raw(alias)}(portal_id, object_type, object_id)`;
}

/**
 * Refreshes the planner statistics of the mirror tables. A bulk load (a backfill, a first search
 * over a big portal) grows them faster than autovacuum re-analyzes, and plans made for a small
 * table slow every page write tenfold until it does.
 */
export async function analyzeMirror(db: Kysely<Database>): Promise<void> {
  await sql`analyze hubspot_objects, change_ledger`.execute(db);
}
