import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { SyncCursorsTable } from '../db/sync-tables.ts';

type Db = Kysely<Database> | Transaction<Database>;

export interface CursorKey {
  jobName: string;
  portalId: number;
  objectType: string;
}

/** A job's key as the columns of the tables keyed by it (`sync_cursors`, `sync_sweeps`): a row to insert, or a filter for `eb.and`. */
export function jobKeyColumns(key: CursorKey) {
  return { job_name: key.jobName, portal_id: key.portalId, object_type: key.objectType };
}

/** Where a job stands, as the poller uses it (times in epoch ms). */
export interface SyncCursor extends CursorKey {
  mode: 'backfill' | 'incremental';
  backfillAfter: string | null;
  backfillStartedAt: number | null;
  /** Search position: every (last-modified, id) up to here is mirrored; see `SearchPosition`. */
  cursorTs: number | null;
  cursorId: string | null;
  cursorTsComplete: boolean;
  rescanFrom: number | null;
  /** When a backfill was last requested (epoch ms): a run that read another value must not save over it. */
  resetRequestedAt: number | null;
  updatedAt: Date;
}

function toCursor(row: Selectable<SyncCursorsTable>): SyncCursor {
  return {
    jobName: row.job_name,
    portalId: row.portal_id,
    objectType: row.object_type,
    mode: row.mode,
    backfillAfter: row.backfill_after,
    backfillStartedAt: row.backfill_started_at?.getTime() ?? null,
    cursorTs: row.cursor_ts?.getTime() ?? null,
    cursorId: row.cursor_id,
    cursorTsComplete: row.cursor_ts_complete,
    rescanFrom: row.rescan_from?.getTime() ?? null,
    resetRequestedAt: row.reset_requested_at?.getTime() ?? null,
    updatedAt: row.updated_at,
  };
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

/** The job's cursor, or undefined before its first run. */
export async function getCursor(db: Db, key: CursorKey): Promise<SyncCursor | undefined> {
  const row = await db
    .selectFrom('sync_cursors')
    .selectAll()
    .where((eb) => eb.and(jobKeyColumns(key)))
    .executeTakeFirst();
  return row ? toCursor(row) : undefined;
}

/** Every cursor, for status. */
export async function listCursors(db: Db): Promise<SyncCursor[]> {
  const rows = await db.selectFrom('sync_cursors').selectAll().orderBy('job_name').execute();
  return rows.map(toCursor);
}

/**
 * Writes the whole cursor (insert or replace); call it in the transaction that wrote the rows it
 * covers. With `resetRequestedAt` (what the run read at its start), the write is refused when a
 * backfill was requested since: returns false, and the caller must stop.
 */
export async function saveCursor(
  db: Db,
  cursor: Omit<SyncCursor, 'updatedAt' | 'resetRequestedAt'>,
  now: Date,
  guard?: { resetRequestedAt: number | null },
): Promise<boolean> {
  const values = {
    mode: cursor.mode,
    backfill_after: cursor.backfillAfter,
    backfill_started_at: date(cursor.backfillStartedAt),
    cursor_ts: date(cursor.cursorTs),
    cursor_id: cursor.cursorId,
    cursor_ts_complete: cursor.cursorTsComplete,
    rescan_from: date(cursor.rescanFrom),
    updated_at: now,
  };
  const result = await db
    .insertInto('sync_cursors')
    .values({ ...jobKeyColumns(cursor), ...values })
    .onConflict((oc) => {
      const update = oc.columns(['job_name', 'portal_id', 'object_type']).doUpdateSet(values);
      return guard ? update.where('sync_cursors.reset_requested_at', 'is not distinct from', date(guard.resetRequestedAt)) : update;
    })
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/**
 * Sends every cursor of the job back to a fresh list backfill; the next run re-reads everything.
 * Returns how many cursors were reset (0: the job has not run yet, so it will backfill anyway).
 */
export async function resetCursors(db: Db, jobName: string, now: Date): Promise<number> {
  const result = await db
    .updateTable('sync_cursors')
    .set({ mode: 'backfill', backfill_after: null, backfill_started_at: null, reset_requested_at: now, updated_at: now })
    .where('job_name', '=', jobName)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
