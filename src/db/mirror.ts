/**
 * Queries on the mirror tables (hubspot_objects, hubspot_associations). The rule that decides
 * what to write lives in src/mirror/rule.ts; this file only moves rows.
 */
import { sql, type Kysely, type RawBuilder, type Selectable, type Transaction } from 'kysely';
import type { LedgerChange } from '../mirror/ledger.ts';
import { ledgerUpsert } from './mirror-ledger.ts';
import type { ObjectRef, Via } from '../mirror/observation.ts';
import { isArchived, objectKey, type AssociationState, type MirrorObject } from '../mirror/rule.ts';
import type { HubspotAssociationsTable, HubspotObjectsTable } from './mirror-tables.ts';
import type { Database } from './schema.ts';

export type HubspotObjectRow = Selectable<HubspotObjectsTable>;

/** A stored object as the rule sees it. */
export function toMirrorObject(row: HubspotObjectRow): MirrorObject {
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
    hsCreatedAt: ms(row.hs_created_at),
    hsUpdatedAt: ms(row.hs_updated_at),
    firstSeenVia: row.first_seen_via as Via,
    firstSeenAt: row.first_seen_at.getTime(),
  };
}

/**
 * Locks the existing rows of `refs` (sorted with `compareRefs`, so concurrent batches lock in the
 * same order and cannot deadlock on each other) and returns them keyed by `objectKey`. Refs
 * without a row are new: `writeMirror` inserts them, and reports any another transaction
 * inserted first.
 */
export async function lockObjects(trx: Transaction<Database>, refs: readonly ObjectRef[]): Promise<Map<string, MirrorObject>> {
  const stored = new Map<string, MirrorObject>();
  if (refs.length === 0) return stored;
  const keys = JSON.stringify(refs.map((r) => ({ portal_id: r.portalId, object_type: r.objectType, object_id: r.objectId })));
  const locked = await sql<HubspotObjectRow>`
    select o.* from hubspot_objects o
    where (o.portal_id, o.object_type, o.object_id) in (
      select k.portal_id, k.object_type, k.object_id
      from jsonb_to_recordset(${keys}::jsonb) as k(portal_id bigint, object_type text, object_id text))
    order by o.portal_id, o.object_type, o.object_id
    for update`.execute(trx);
  for (const row of locked.rows) {
    const object = toMirrorObject(row);
    stored.set(objectKey(object), object);
  }
  return stored;
}

export interface MirrorWrite {
  /** New states; those whose key is not in `existing` are inserted, the rest (locked) updated. */
  objects: readonly MirrorObject[];
  existing: ReadonlySet<string>;
  ledger: readonly LedgerChange[];
  associations: readonly AssociationState[];
}

export interface MirrorWriteResult {
  objectsWritten: number;
  ledgerChanges: number;
  associationsWritten: number;
  /** New objects another transaction inserted first: lock them and apply again. */
  conflicted: ObjectRef[];
}

/**
 * Writes a batch's outcome in ONE statement (data-modifying CTEs): update the locked rows,
 * insert the new ones (ON CONFLICT DO NOTHING, reporting the losers of an insert race), merge
 * the ledger changes and the association edges.
 */
export async function writeMirror(trx: Transaction<Database>, write: MirrorWrite, now: Date): Promise<MirrorWriteResult> {
  const rows = JSON.stringify(
    write.objects.map((o) => ({
      portal_id: o.portalId,
      object_type: o.objectType,
      object_id: o.objectId,
      is_new: !write.existing.has(objectKey(o)),
      properties: o.properties,
      property_versions: o.propertyVersions,
      archived: isArchived(o),
      merged_into: o.mergedInto,
      merged_at: iso(o.mergedVersion),
      lifecycle: o.lifecycle,
      lifecycle_at: iso(o.lifecycleVersion),
      privacy_deleted_at: iso(o.privacyDeletedAt),
      hs_created_at: iso(o.hsCreatedAt),
      hs_updated_at: iso(o.hsUpdatedAt),
      first_seen_via: o.firstSeenVia,
      first_seen_at: iso(o.firstSeenAt),
    })),
  );
  const { rows: [result] } = await sql<{ updated: number; inserted: number; ledger: number; associations: number; conflicted: [number, string, string][] }>`
    with r as (
      select * from jsonb_to_recordset(${rows}::jsonb) as r(
        portal_id bigint, object_type text, object_id text, is_new boolean, properties jsonb, property_versions jsonb,
        archived boolean, merged_into text, merged_at timestamptz, lifecycle text, lifecycle_at timestamptz,
        privacy_deleted_at timestamptz, hs_created_at timestamptz, hs_updated_at timestamptz, first_seen_via text,
        first_seen_at timestamptz)
    ),
    upd as (
      update hubspot_objects o set
        properties = r.properties, property_versions = r.property_versions, archived = r.archived,
        merged_into = r.merged_into, merged_at = r.merged_at, lifecycle = r.lifecycle, lifecycle_at = r.lifecycle_at,
        privacy_deleted_at = r.privacy_deleted_at, hs_created_at = r.hs_created_at, hs_updated_at = r.hs_updated_at,
        first_seen_via = r.first_seen_via, first_seen_at = r.first_seen_at, updated_at = ${now}
      from r
      where not r.is_new and o.portal_id = r.portal_id and o.object_type = r.object_type and o.object_id = r.object_id
      returning 1
    ),
    ins as (
      insert into hubspot_objects (portal_id, object_type, object_id, properties, property_versions, archived, merged_into,
        merged_at, lifecycle, lifecycle_at, privacy_deleted_at, hs_created_at, hs_updated_at, first_seen_via, first_seen_at, updated_at)
      select portal_id, object_type, object_id, properties, property_versions, archived, merged_into, merged_at, lifecycle,
        lifecycle_at, privacy_deleted_at, hs_created_at, hs_updated_at, first_seen_via, first_seen_at, ${now}
      from r where r.is_new
      order by portal_id, object_type, object_id
      on conflict do nothing
      returning portal_id, object_type, object_id
    ),
    led as (${ledgerUpsert(write.ledger)} returning 1),
    assoc as (${associationUpsert(write.associations, now)} returning 1)
    select
      (select count(*) from upd) as updated,
      (select count(*) from ins) as inserted,
      (select count(*) from led) as ledger,
      (select count(*) from assoc) as associations,
      (select coalesce(jsonb_agg(jsonb_build_array(r.portal_id, r.object_type, r.object_id)), '[]'::jsonb)
        from r where r.is_new and not exists (
          select 1 from ins where ins.portal_id = r.portal_id and ins.object_type = r.object_type and ins.object_id = r.object_id)
      ) as conflicted`.execute(trx);
  if (!result) throw new Error('mirror write returned no row');
  return {
    objectsWritten: Number(result.updated) + Number(result.inserted),
    ledgerChanges: Number(result.ledger),
    associationsWritten: Number(result.associations),
    conflicted: result.conflicted.map(([portalId, objectType, objectId]) => ({ portalId: Number(portalId), objectType, objectId })),
  };
}

/**
 * The INSERT that merges edges into hubspot_associations (for `writeMirror`): newest version
 * wins, a removal wins a tie (the register of `mergeAssociation`, evaluated by Postgres on the
 * locked row, so concurrent writers converge). `edges` must be unique per key and sorted by key
 * (as `applyRule` returns them).
 */
function associationUpsert(edges: readonly AssociationState[], now: Date): RawBuilder<unknown> {
  const rows = JSON.stringify(
    edges.map((e) => ({
      portal_id: e.portalId,
      from_object_type: e.fromObjectType,
      from_object_id: e.fromObjectId,
      to_object_type: e.toObjectType,
      to_object_id: e.toObjectId,
      association_type: e.associationType,
      removed: e.removed,
      version: iso(e.version),
    })),
  );
  return sql`
    insert into hubspot_associations as a
      (portal_id, from_object_type, from_object_id, to_object_type, to_object_id, association_type, removed, version, updated_at)
    select r.*, ${now}::timestamptz from jsonb_to_recordset(${rows}::jsonb) as r(
      portal_id bigint, from_object_type text, from_object_id text, to_object_type text, to_object_id text,
      association_type text, removed boolean, version timestamptz)
    on conflict (portal_id, from_object_type, from_object_id, to_object_type, to_object_id, association_type) do update
      set removed = excluded.removed, version = excluded.version, updated_at = excluded.updated_at
      where (excluded.version, excluded.removed) > (a.version, a.removed)`;
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
      .where('portal_id', '=', current.portalId)
      .where('object_type', '=', current.objectType)
      .where('object_id', '=', current.objectId)
      .executeTakeFirst();
    if (!row) return undefined;
    const object = toMirrorObject(row);
    if (options.followMerges === false || object.mergedInto === null) return { ...object, archived: row.archived };
    current = { ...current, objectId: object.mergedInto };
  }
  return undefined;
}

export type AssociationRow = Selectable<HubspotAssociationsTable>;

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
  const rows = await query.orderBy('to_object_type').orderBy('to_object_id').orderBy('association_type').execute();
  return rows.map(toAssociationState);
}

export function toAssociationState(row: AssociationRow): AssociationState {
  return {
    portalId: Number(row.portal_id),
    fromObjectType: row.from_object_type,
    fromObjectId: row.from_object_id,
    toObjectType: row.to_object_type,
    toObjectId: row.to_object_id,
    associationType: row.association_type,
    removed: row.removed,
    version: row.version.getTime(),
  };
}

function ms(value: Date | null): number | null {
  return value === null ? null : value.getTime();
}

function iso(value: number | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}
