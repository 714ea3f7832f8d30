import { sql, type Kysely } from 'kysely';

/**
 * The webhook inbox: every received event once (deduplicated by `dedup_key`), with delivery
 * evidence and processing state; and the quarantine of events that failed validation.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('webhook_events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('hubspot', 'paragon', 'workflow')`))
    .addColumn('dedup_key', 'text', (c) => c.notNull().unique())
    .addColumn('portal_id', 'bigint')
    .addColumn('app_id', 'bigint')
    .addColumn('event_id', 'text')
    .addColumn('subscription_id', 'bigint')
    .addColumn('subscription_type', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text')
    .addColumn('object_id', 'text')
    .addColumn('occurred_at', 'timestamptz')
    // attemptNumber is evidence of how the receiver does, never identity.
    .addColumn('first_attempt', 'integer')
    .addColumn('last_attempt', 'integer')
    .addColumn('deliveries', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_received_at', 'timestamptz', (c) => c.notNull())
    // Processing: claimed by pushing next_attempt_at past a lease; retried with backoff; failed_at once given up.
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    .addColumn('processed_at', 'timestamptz')
    .addColumn('failed_at', 'timestamptz')
    .addColumn('error', 'text')
    .execute();
  // The processor's claim (unprocessed, not given up, oldest first) and the backlog figures.
  await db.schema
    .createIndex('webhook_events_pending_idx')
    .on('webhook_events')
    .column('id')
    .where(sql.ref('processed_at'), 'is', null)
    .where(sql.ref('failed_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('webhook_events_failed_idx')
    .on('webhook_events')
    .column('failed_at')
    .where(sql.ref('failed_at'), 'is not', null)
    .execute();
  await db.schema
    .createIndex('webhook_events_object_idx')
    .on('webhook_events')
    .columns(['portal_id', 'object_type', 'object_id'])
    .execute();
  await db.schema.createIndex('webhook_events_received_at_idx').on('webhook_events').column('received_at').execute();

  await db.schema
    .createTable('webhook_quarantine')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('hubspot', 'paragon', 'workflow')`))
    .addColumn('content_hash', 'text', (c) => c.notNull().unique())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('raw', 'jsonb', (c) => c.notNull())
    .addColumn('deliveries', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_received_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_quarantine').ifExists().execute();
  await db.schema.dropTable('webhook_events').ifExists().execute();
}
