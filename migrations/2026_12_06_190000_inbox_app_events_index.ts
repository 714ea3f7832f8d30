import { sql, type Kysely } from 'kysely';

/**
 * The journal's app installs and uninstalls, newest first, for `hubsync status`: without an index
 * status read the whole inbox. Partial, so the events the inbox takes by the thousand a second
 * (property changes, creations) write no entry here; the query states the same predicate.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index webhook_events_app_events_idx on webhook_events (occurred_at desc)
    where source = 'journal' and subscription_type in ('journal.APP_INSTALL', 'journal.APP_UNINSTALL')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists webhook_events_app_events_idx`.execute(db);
}
