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

/** Pages read per record wanted, on the first draw from pages. */
const PAGES_PER_RECORD = 4;
/** A type estimated at no more than this many rows per record wanted is drawn from all its rows (cheap at that size). */
const SMALL_TYPE_PER_RECORD = 20;

/** How a sample was drawn: from random pages of the table, or among every row of the type. */
export type SampleMethod = 'pages' | 'rows';

/**
 * Up to `limit` ids of a type the mirror holds, not merged away (an id merged away is checked
 * through its survivor), drawn at random without reading the whole table: from random pages
 * (`TABLESAMPLE SYSTEM`, sized from the table's pages and grown once if the type is sparse
 * there), shuffled. Records on one page are a cluster (often written together), a fair price for
 * a periodic check. A small table, or a type too rare in it to find on a few pages, is drawn
 * among all the type's rows through the primary key, which costs little at that size.
 */
export async function sampleIds(db: Kysely<Database>, portalId: number, objectType: string, limit: number, random: () => number = Math.random): Promise<{ ids: string[]; method: SampleMethod }> {
  if (limit <= 0) return { ids: [], method: 'rows' };
  const { rows: size } = await sql<{ pages: string }>`select pg_relation_size('hubspot_objects') / current_setting('block_size')::int as pages`.execute(db);
  let percent = (100 * PAGES_PER_RECORD * limit) / Math.max(1, Number(size[0]?.pages ?? 0));
  for (let attempt = 0; attempt < 2 && percent < 100; attempt++) {
    const { rows } = await sql<{ object_id: string }>`
      select object_id from hubspot_objects tablesample system (${percent}::real)
      where portal_id = ${portalId} and object_type = ${objectType} and merged_into is null`.execute(db);
    if (rows.length >= limit) return { ids: shuffle(rows.map((r) => r.object_id), random).slice(0, limit), method: 'pages' };
    if ((rows.length * 100) / percent <= SMALL_TYPE_PER_RECORD * limit) break;
    percent = Math.min(100, (percent * 2 * limit) / Math.max(1, rows.length));
  }
  const { rows } = await sql<{ object_id: string }>`
    select object_id from hubspot_objects
    where portal_id = ${portalId} and object_type = ${objectType} and merged_into is null
    order by random()
    limit ${limit}`.execute(db);
  return { ids: rows.map((r) => r.object_id), method: 'rows' };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Up to `limit` records of a type, sampled as `sampleIds` draws them. */
export async function sampleRecords(db: Kysely<Database>, portalId: number, objectType: string, limit: number): Promise<MirroredRecord[]> {
  const { ids } = await sampleIds(db, portalId, objectType, limit);
  const records = await mirroredRecords(db, portalId, objectType, ids);
  return ids.flatMap((id) => records.get(id) ?? []);
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
