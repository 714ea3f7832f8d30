import { sql, type Kysely } from 'kysely';

/**
 * Association sweeps: a job's sweep walks its mirrored objects in id order, re-reading them and
 * their associations, and finds the records gone for good. `sync_sweeps` is where a sweep stands
 * (resumable after a crash); its runs are `sync_runs` of kind `associations`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sync_sweeps')
    .addColumn('job_name', 'text', (c) => c.notNull())
    .addColumn('portal_id', 'bigint', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    // The last object id done (ids in text order); null before the first chunk.
    .addColumn('after_id', 'text')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('sync_sweeps_pkey', ['job_name', 'portal_id', 'object_type'])
    .execute();
  await sql`alter table sync_runs drop constraint if exists sync_runs_kind_check`.execute(db);
  await sql`alter table sync_runs add constraint sync_runs_kind_check check (kind in ('incremental', 'backfill', 'sweep', 'associations'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from sync_runs where kind = 'associations'`.execute(db);
  await sql`alter table sync_runs drop constraint if exists sync_runs_kind_check`.execute(db);
  await sql`alter table sync_runs add constraint sync_runs_kind_check check (kind in ('incremental', 'backfill', 'sweep'))`.execute(db);
  await db.schema.dropTable('sync_sweeps').ifExists().execute();
}
