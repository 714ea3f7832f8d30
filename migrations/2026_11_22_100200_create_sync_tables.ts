import { sql, type Kysely } from 'kysely';

/**
 * Polling state: one cursor per job (search position, list backfill token, look-back anchor),
 * one row per run (the operator's record of what polling did), job leases (one worker per job
 * across every process), and rate-limit pauses that must outlive a restart (the daily limit).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sync_cursors')
    .addColumn('job_name', 'text', (c) => c.notNull())
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    // backfill: listing every record (resumable by backfill_after); incremental: cursored search.
    .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('backfill', 'incremental')`))
    .addColumn('backfill_after', 'text')
    .addColumn('backfill_started_at', 'timestamptz')
    // Everything (last-modified, id) <= (cursor_ts, cursor_id) is mirrored; cursor_id null: nothing at
    // cursor_ts yet; cursor_ts_complete: every record at cursor_ts too.
    .addColumn('cursor_ts', 'timestamptz')
    .addColumn('cursor_id', 'text')
    .addColumn('cursor_ts_complete', 'boolean', (c) => c.notNull().defaultTo(false))
    // The next run re-reads from here (start of the last completed run minus the look-back): search-index lag.
    .addColumn('rescan_from', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('sync_cursors_pkey', ['job_name', 'portal_id', 'object_type'])
    .execute();

  await db.schema
    .createTable('sync_runs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('job_name', 'text', (c) => c.notNull())
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('incremental', 'backfill', 'sweep')`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running', 'ok', 'failed', 'aborted')`))
    .addColumn('worker', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('duration_ms', 'bigint')
    .addColumn('pages', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('records', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('total', 'integer')
    .addColumn('api_calls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rate_limited', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('sync_runs_job_idx').on('sync_runs').columns(['job_name', 'id']).execute();

  await db.schema
    .createTable('job_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('sync_account_pauses')
    .addColumn('portal_id', 'bigint', (c) => c.primaryKey())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('paused_until', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sync_account_pauses').ifExists().execute();
  await db.schema.dropTable('job_leases').ifExists().execute();
  await db.schema.dropTable('sync_runs').ifExists().execute();
  await db.schema.dropTable('sync_cursors').ifExists().execute();
}
