/**
 * Queries on the mirror tables (hubspot_objects, hubspot_associations). The rule that decides
 * what to write lives in src/mirror/rule.ts; this file only moves rows.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
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
 * Makes sure a row exists for every ref and locks them all, in key order (`refs` must be sorted
 * with `compareRefs`), so two batches touching the same objects serialise instead of deadlocking
 * or losing an update. Returns the rows that existed before, keyed by `objectKey`; refs missing
 * from the map are new (their placeholder rows must be overwritten by `writeObjects`).
 *
 * Two statements: placeholders first (ON CONFLICT DO NOTHING waits out a concurrent insert of
 * the same key), then one SELECT … FOR UPDATE that sees every row, ours and theirs.
 */
export async function lockObjects(trx: Transaction<Database>, refs: readonly ObjectRef[], now: Date): Promise<Map<string, MirrorObject>> {
  const stored = new Map<string, MirrorObject>();
  if (refs.length === 0) return stored;
  const keys = JSON.stringify(refs.map((r) => ({ portal_id: r.portalId, object_type: r.objectType, object_id: r.objectId })));
  const inserted = await sql<{ portal_id: number; object_type: string; object_id: string }>`
    insert into hubspot_objects (portal_id, object_type, object_id, first_seen_via, first_seen_at, updated_at)
    select k.portal_id, k.object_type, k.object_id, '', ${now}, ${now}
    from jsonb_to_recordset(${keys}::jsonb) as k(portal_id bigint, object_type text, object_id text)
    on conflict do nothing
    returning portal_id, object_type, object_id`.execute(trx);
  const fresh = new Set(inserted.rows.map((r) => objectKey({ portalId: Number(r.portal_id), objectType: r.object_type, objectId: r.object_id })));
  const locked = await sql<HubspotObjectRow>`
    select o.* from hubspot_objects o
    where (o.portal_id, o.object_type, o.object_id) in (
      select k.portal_id, k.object_type, k.object_id
      from jsonb_to_recordset(${keys}::jsonb) as k(portal_id bigint, object_type text, object_id text))
    order by o.portal_id, o.object_type, o.object_id
    for update`.execute(trx);
  for (const row of locked.rows) {
    const object = toMirrorObject(row);
    const key = objectKey(object);
    if (!fresh.has(key)) stored.set(key, object);
  }
  return stored;
}

/** Overwrites locked rows with their new state, in one statement. */
export async function writeObjects(trx: Transaction<Database>, objects: readonly MirrorObject[], now: Date): Promise<number> {
  if (objects.length === 0) return 0;
  const rows = JSON.stringify(
    objects.map((o) => ({
      portal_id: o.portalId,
      object_type: o.objectType,
      object_id: o.objectId,
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
  const result = await sql`
    update hubspot_objects o set
      properties = r.properties, property_versions = r.property_versions, archived = r.archived,
      merged_into = r.merged_into, merged_at = r.merged_at, lifecycle = r.lifecycle, lifecycle_at = r.lifecycle_at,
      privacy_deleted_at = r.privacy_deleted_at, hs_created_at = r.hs_created_at, hs_updated_at = r.hs_updated_at,
      first_seen_via = r.first_seen_via, first_seen_at = r.first_seen_at, updated_at = ${now}
    from jsonb_to_recordset(${rows}::jsonb) as r(
      portal_id bigint, object_type text, object_id text, properties jsonb, property_versions jsonb, archived boolean,
      merged_into text, merged_at timestamptz, lifecycle text, lifecycle_at timestamptz, privacy_deleted_at timestamptz,
      hs_created_at timestamptz, hs_updated_at timestamptz, first_seen_via text, first_seen_at timestamptz)
    where o.portal_id = r.portal_id and o.object_type = r.object_type and o.object_id = r.object_id`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Merges edges into hubspot_associations: newest version wins, a removal wins a tie (the same
 * register as `mergeAssociation`, evaluated by Postgres on the locked row, so concurrent writers
 * converge). `edges` must be unique per key and sorted by key (as `applyRule` returns them).
 */
export async function upsertAssociations(trx: Transaction<Database>, edges: readonly AssociationState[], now: Date): Promise<number> {
  if (edges.length === 0) return 0;
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
  const result = await sql`
    insert into hubspot_associations as a
      (portal_id, from_object_type, from_object_id, to_object_type, to_object_id, association_type, removed, version, updated_at)
    select r.*, ${now}::timestamptz from jsonb_to_recordset(${rows}::jsonb) as r(
      portal_id bigint, from_object_type text, from_object_id text, to_object_type text, to_object_id text,
      association_type text, removed boolean, version timestamptz)
    on conflict (portal_id, from_object_type, from_object_id, to_object_type, to_object_id, association_type) do update
      set removed = excluded.removed, version = excluded.version, updated_at = excluded.updated_at
      where (excluded.version, excluded.removed) > (a.version, a.removed)`.execute(trx);
  return Number(result.numAffectedRows ?? 0);
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
