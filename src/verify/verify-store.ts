import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { arrayLiteral } from '../db/sql.ts';

/** What `verify` compares of a mirrored object. */
export interface MirroredRecord {
  objectId: string;
  properties: Record<string, string | null>;
  /** Deleted, merged away or erased. */
  archived: boolean;
  mergedInto: string | null;
  /** Privacy-deleted or gone for good: no values may remain. */
  erased: boolean;
}

/**
 * Up to `limit` records of a type the mirror holds, drawn at random among those not merged away
 * (an id merged away is checked through its survivor).
 */
export async function sampleRecords(db: Kysely<Database>, portalId: number, objectType: string, limit: number): Promise<MirroredRecord[]> {
  const { rows } = await sql<{ object_id: string; properties: Record<string, string | null>; archived: boolean; merged_into: string | null; erased: boolean }>`
    select object_id, properties, archived, merged_into, (privacy_deleted_at is not null or gone_at is not null) as erased
    from hubspot_objects
    where portal_id = ${portalId} and object_type = ${objectType} and merged_into is null
    order by random()
    limit ${limit}`.execute(db);
  return rows.map((r) => ({ objectId: r.object_id, properties: r.properties, archived: r.archived, mergedInto: r.merged_into, erased: r.erased }));
}

/** The mirror's rows of these ids (merged away or not). */
export async function mirroredRecords(db: Kysely<Database>, portalId: number, objectType: string, ids: readonly string[]): Promise<Map<string, MirroredRecord>> {
  if (ids.length === 0) return new Map();
  const { rows } = await sql<{ object_id: string; properties: Record<string, string | null>; archived: boolean; merged_into: string | null; erased: boolean }>`
    select object_id, properties, archived, merged_into, (privacy_deleted_at is not null or gone_at is not null) as erased
    from hubspot_objects
    where portal_id = ${portalId} and object_type = ${objectType} and object_id = any(${arrayLiteral(ids)}::text[])`.execute(db);
  return new Map(rows.map((r) => [r.object_id, { objectId: r.object_id, properties: r.properties, archived: r.archived, mergedInto: r.merged_into, erased: r.erased }]));
}

/**
 * The present associations of these objects to a type, per object: the other end's id and the
 * version. Edges to records the mirror holds as deleted, merged away or erased are left out
 * (HubSpot's reads hide a deleted record's associations).
 */
export async function mirroredEdges(db: Kysely<Database>, portalId: number, objectType: string, ids: readonly string[], toType: string): Promise<Map<string, Map<string, number>>> {
  const edges = new Map<string, Map<string, number>>();
  if (ids.length === 0) return edges;
  const { rows } = await sql<{ from_object_id: string; to_object_id: string; version: Date }>`
    select a.from_object_id, a.to_object_id, a.version
    from hubspot_associations a
    left join hubspot_objects o on o.portal_id = a.portal_id and o.object_type = a.to_object_type and o.object_id = a.to_object_id
    where a.portal_id = ${portalId} and a.from_object_type = ${objectType} and a.to_object_type = ${toType}
      and a.from_object_id = any(${arrayLiteral(ids)}::text[]) and not a.removed
      and coalesce(not o.archived, true)`.execute(db);
  for (const r of rows) {
    const to = edges.get(r.from_object_id) ?? new Map<string, number>();
    edges.set(r.from_object_id, to.set(r.to_object_id, r.version.getTime()));
  }
  return edges;
}
