import type { Kysely } from 'kysely';

/**
 * paragon_trigger_users: the Connected Users whose trigger subscriptions hubsync manages. Paragon
 * lists subscriptions per user only, so a user removed from the configuration is found here and
 * their managed subscriptions deleted.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('paragon_trigger_users')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('managed_since', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('paragon_trigger_users').ifExists().execute();
}
