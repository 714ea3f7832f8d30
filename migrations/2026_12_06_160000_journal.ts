import { sql, type Kysely } from 'kysely';

/**
 * The Webhooks Journal, hubsync's third path:
 * - its events share the inbox (`webhook_events.source = 'journal'`, quarantine too);
 * - the change ledger records when the journal first saw each change (`seen_by_journal_at`);
 * - `journal_offsets`: where each journal's consumer stands (committed with the events it read);
 * - `journal_gaps`: offsets that expired before they were read (an outage past the retention), the
 *   time range that may have been lost, and the polling jobs asked to re-read it;
 * - `journal_subscriptions`: the subscriptions hubsync made, by HubSpot id, so it only ever
 *   changes its own.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ['webhook_events', 'webhook_quarantine']) {
    await sql`alter table ${sql.table(table)} drop constraint ${sql.ref(`${table}_source_check`)}`.execute(db);
    await sql`alter table ${sql.table(table)} add constraint ${sql.ref(`${table}_source_check`)}
      check (source in ('hubspot', 'paragon', 'workflow', 'journal'))`.execute(db);
  }
  await db.schema.alterTable('change_ledger').addColumn('seen_by_journal_at', 'timestamptz').execute();

  await db.schema
    .createTable('journal_offsets')
    // `global`, or `portal:<id>` for a local journal.
    .addColumn('journal', 'text', (c) => c.primaryKey())
    .addColumn('offset', 'text', (c) => c.notNull())
    // The entry's publishedAt and the newest occurredAt read so far: how far the journal has been read, in time.
    .addColumn('published_at', 'timestamptz')
    .addColumn('last_event_at', 'timestamptz')
    .addColumn('entries', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('events', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('journal_gaps')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('journal', 'text', (c) => c.notNull())
    .addColumn('lost_offset', 'text', (c) => c.notNull())
    // Changes in [since, until) may never have been read from the journal.
    .addColumn('since', 'timestamptz', (c) => c.notNull())
    .addColumn('until', 'timestamptz', (c) => c.notNull())
    .addColumn('detected_at', 'timestamptz', (c) => c.notNull())
    // The polling jobs whose cursors were sent back to `since`.
    .addColumn('rescan_jobs', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .execute();
  await db.schema.createIndex('journal_gaps_detected_at_idx').on('journal_gaps').column('detected_at').execute();

  await db.schema
    .createTable('journal_subscriptions')
    // HubSpot's subscription id.
    .addColumn('id', 'bigint', (c) => c.primaryKey())
    // hubsync's identity of the subscription (type, portal, object type), from the configuration.
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('portal_id', 'bigint')
    .addColumn('subscription_type', 'text', (c) => c.notNull())
    // What was asked for (the upsert body and filters), to compare with the configuration.
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('filter_ids', sql`bigint[]`, (c) => c.notNull().defaultTo(sql`'{}'::bigint[]`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('journal_subscriptions').ifExists().execute();
  await db.schema.dropTable('journal_gaps').ifExists().execute();
  await db.schema.dropTable('journal_offsets').ifExists().execute();
  await db.schema.alterTable('change_ledger').dropColumn('seen_by_journal_at').execute();
  for (const table of ['webhook_events', 'webhook_quarantine']) {
    await sql`delete from ${sql.table(table)} where source = 'journal'`.execute(db);
    await sql`alter table ${sql.table(table)} drop constraint ${sql.ref(`${table}_source_check`)}`.execute(db);
    await sql`alter table ${sql.table(table)} add constraint ${sql.ref(`${table}_source_check`)}
      check (source in ('hubspot', 'paragon', 'workflow'))`.execute(db);
  }
}
