import type { Kysely } from 'kysely';

/**
 * paragon_trigger_subscriptions: the Paragon trigger subscriptions hubsync made, by id, with the
 * configured trigger each one serves. Paragon's listings do not promise to echo the metadata that
 * marked them, so hubsync recognises its own subscriptions by these ids first.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('paragon_trigger_subscriptions')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('subscription_id', 'text', (c) => c.notNull())
    .addColumn('trigger_key', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('paragon_trigger_subscriptions_pkey', ['user_id', 'subscription_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('paragon_trigger_subscriptions').ifExists().execute();
}
