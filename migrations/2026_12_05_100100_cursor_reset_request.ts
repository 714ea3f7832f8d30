import type { Kysely } from 'kysely';

/**
 * sync_cursors.reset_requested_at: when `hubsync backfill` last asked for the job to start over.
 * A run in progress compares it with what it read at its start and stops instead of writing its
 * own position over the request.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sync_cursors').addColumn('reset_requested_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sync_cursors').dropColumn('reset_requested_at').execute();
}
