import { sql, type Kysely } from 'kysely';

/**
 * sync_rescans: requests that a polling job re-read from a point in time (a Webhooks Journal gap:
 * changes in a range no stream delivered). The job's next poll starts from the oldest pending
 * request, sweeps archived records too, and marks the requests it covered done. A table of its own,
 * so a run in flight (which saves its cursor as it goes) cannot overwrite a request made meanwhile.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sync_rescans')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('job_name', 'text', (c) => c.notNull())
    .addColumn('rescan_from', 'timestamptz', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull())
    .addColumn('done_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('sync_rescans_pending_idx')
    .on('sync_rescans')
    .column('job_name')
    .where(sql.ref('done_at'), 'is', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sync_rescans').ifExists().execute();
}
