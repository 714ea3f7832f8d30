/**
 * Reading a watched app table (`outbox.source`) by its `(updated_at, id)` cursor, and the
 * cursor and seen-row bookkeeping in `outbox_cursors` / `outbox_source_rows`.
 */
import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

/** Which columns of the app's table mean what. Identifiers come from validated config and are quoted. */
export interface SourceColumns {
  table: string;
  id: string;
  updatedAt: string;
  user: string;
}

/** A position in the source: the text forms of the last row's `updated_at` and id (null: the start). */
export interface SourceCursor {
  ts: string | null;
  id: string | null;
}

export interface SourceRow {
  rowId: string;
  /** `updated_at` as the database prints it; exact (microseconds), and what the cursor stores. */
  cursorTs: string;
  /** `updated_at` in epoch microseconds: the row's version. */
  version: string;
  userId: string | null;
  row: Record<string, unknown>;
}

/**
 * Locks the named cursor for this transaction, creating it at the start; null when another
 * worker holds it (it is doing this tick, so this one skips).
 */
export async function lockCursor(trx: Transaction<Database>, name: string): Promise<SourceCursor | null> {
  await trx.insertInto('outbox_cursors').values({ name, cursor_ts: null, cursor_id: null }).onConflict((oc) => oc.column('name').doNothing()).execute();
  const row = await sql<{ cursor_ts: string | null; cursor_id: string | null }>`
    select cursor_ts, cursor_id from outbox_cursors where name = ${name} for update skip locked`.execute(trx);
  const found = row.rows[0];
  return found ? { ts: found.cursor_ts, id: found.cursor_id } : null;
}

export async function saveCursor(trx: Transaction<Database>, name: string, cursor: SourceCursor, rows: number, now: Date): Promise<void> {
  await trx
    .updateTable('outbox_cursors')
    .set((eb) => ({ cursor_ts: cursor.ts, cursor_id: cursor.id, rows_seen: eb('rows_seen', '+', rows), updated_at: now }))
    .where('name', '=', name)
    .execute();
}

/**
 * The next rows after `after` in `(updated_at, id)` order. Rows sharing one `updated_at` are
 * walked by id, so a page boundary inside a tie neither skips nor repeats a row. With
 * `settledBeforeMs`, only rows whose `updated_at` is at least that old (database clock) are read:
 * the look-back sweep, which catches rows whose transactions committed after the head cursor had
 * already moved past their timestamp.
 */
export async function readSourceRows(
  trx: Transaction<Database>,
  c: SourceColumns,
  after: SourceCursor,
  limit: number,
  settledBeforeMs?: number,
): Promise<SourceRow[]> {
  const t = sql.table(c.table);
  const id = sql.ref(`t.${c.id}`);
  const ts = sql.ref(`t.${c.updatedAt}`);
  const user = sql.ref(`t.${c.user}`);
  // Untyped parameters take the columns' own types, so ids compare as ints, uuids or text, as stored.
  const position = after.ts === null ? sql`true` : sql`(${ts}, ${id}) > (${after.ts}, ${after.id})`;
  const settled = settledBeforeMs === undefined ? sql`true` : sql`${ts} < now() - make_interval(secs => ${settledBeforeMs / 1000})`;
  const result = await sql<{ row_id: string; cursor_ts: string; version: string; user_id: string | null; row: Record<string, unknown> }>`
    select ${id}::text as row_id, ${ts}::text as cursor_ts,
      floor(extract(epoch from ${ts}) * 1000000)::bigint::text as version,
      ${user}::text as user_id, to_jsonb(t) as row
    from ${t} as t
    where ${ts} is not null and ${position} and ${settled}
    order by ${ts}, ${id}
    limit ${limit}`.execute(trx);
  return result.rows.map((r) => ({ rowId: r.row_id, cursorTs: r.cursor_ts, version: r.version, userId: r.user_id, row: r.row }));
}

/** Records rows as announced; returns the ids seen for the first time. */
export async function registerSourceRows(trx: Transaction<Database>, source: string, rowIds: readonly string[], now: Date): Promise<Set<string>> {
  if (rowIds.length === 0) return new Set();
  const result = await trx
    .insertInto('outbox_source_rows')
    .values(rowIds.map((row_id) => ({ source, row_id, first_seen_at: now })))
    .onConflict((oc) => oc.columns(['source', 'row_id']).doNothing())
    .returning('row_id')
    .execute();
  return new Set(result.map((r) => r.row_id));
}
