import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { arrayLiteral } from '../db/sql.ts';
import { jobKeyColumns, type CursorKey } from './cursor-store.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** Where a job's association sweep stands. */
export interface SweepPosition {
  afterId: string | null;
  startedAt: number;
  finishedAt: number | null;
}

export async function getSweep(db: Db, key: CursorKey): Promise<SweepPosition | undefined> {
  const row = await db
    .selectFrom('sync_sweeps')
    .selectAll()
    .where((eb) => eb.and(jobKeyColumns(key)))
    .executeTakeFirst();
  return row ? { afterId: row.after_id, startedAt: row.started_at.getTime(), finishedAt: row.finished_at?.getTime() ?? null } : undefined;
}

/** Saves the sweep's position; call it in the transaction that applied what it read. */
export async function saveSweep(db: Db, key: CursorKey, position: SweepPosition, now: Date): Promise<void> {
  const values = {
    after_id: position.afterId,
    started_at: new Date(position.startedAt),
    finished_at: position.finishedAt === null ? null : new Date(position.finishedAt),
    updated_at: now,
  };
  await db
    .insertInto('sync_sweeps')
    .values({ ...jobKeyColumns(key), ...values })
    .onConflict((oc) => oc.columns(['job_name', 'portal_id', 'object_type']).doUpdateSet(values))
    .execute();
}

/**
 * The next ids of a type the mirror holds as records (not merged away, not erased), in text order
 * after `afterId`, leaving out those whose associations to every type of `toTypes` were read at
 * or after `freshSince` (a poll already did). Returns the ids to read and the last id looked at.
 */
export async function nextSweepIds(
  db: Db,
  key: CursorKey,
  afterId: string | null,
  limit: number,
  toTypes: readonly string[],
  freshSince: Date,
): Promise<{ ids: string[]; lastId: string | null }> {
  const { rows } = await sql<{ object_id: string; fresh: boolean }>`
    select o.object_id, (${toTypes.length} > 0 and (
      select count(*) from hubspot_association_reads r
      where r.portal_id = o.portal_id and r.object_type = o.object_type and r.object_id = o.object_id
        and r.to_object_type = any(${arrayLiteral(toTypes)}::text[]) and r.read_at >= ${freshSince}
    ) = ${toTypes.length}) as fresh
    from hubspot_objects o
    where o.portal_id = ${key.portalId} and o.object_type = ${key.objectType}
      and o.merged_into is null and o.privacy_deleted_at is null and o.gone_at is null
      ${afterId === null ? sql`` : sql`and o.object_id > ${afterId}`}
    order by o.object_id
    limit ${limit}`.execute(db);
  return { ids: rows.filter((r) => !r.fresh).map((r) => r.object_id), lastId: rows.at(-1)?.object_id ?? null };
}
