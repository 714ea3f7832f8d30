import { sql, type Kysely } from 'kysely';

/**
 * The outbox: App Events waiting for (or done with) delivery to Paragon, and the cursors of the
 * watched app tables that feed it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('app_event_outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    // The Paragon Connected User: the user token's `sub`.
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    // Events sharing an ordering key (e.g. one contact's row) are delivered one at a time, in id order.
    .addColumn('ordering_key', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sent', 'dead')`))
    // Every delivery attempt, and those that count toward the dead-letter limit (permanent 4xx).
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // A claim is a lease: a worker that dies mid-delivery loses it when it expires (at-least-once).
    .addColumn('locked_until', 'timestamptz')
    .addColumn('locked_by', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('app_event_outbox_due_idx')
    .on('app_event_outbox')
    .columns(['next_attempt_at', 'id'])
    .where(sql.ref('status'), '=', 'pending')
    .execute();
  // The head-of-line check: "is there an older undelivered (pending or dead) event for this key?"
  await db.schema
    .createIndex('app_event_outbox_ordering_idx')
    .on('app_event_outbox')
    .columns(['ordering_key', 'id'])
    .where(sql.ref('status'), '<>', 'sent')
    .execute();
  await db.schema
    .createIndex('app_event_outbox_sent_at_idx')
    .on('app_event_outbox')
    .column('sent_at')
    .where(sql.ref('status'), '=', 'sent')
    .execute();
  await db.schema
    .createIndex('app_event_outbox_dead_idx')
    .on('app_event_outbox')
    .column('id')
    .where(sql.ref('status'), '=', 'dead')
    .execute();

  await db.schema
    .createTable('outbox_cursors')
    // `<table>` for the head cursor, `<table>#trail` for the look-back sweep.
    .addColumn('name', 'text', (c) => c.primaryKey())
    // The source's own text forms, so no precision is lost (timestamptz has microseconds).
    .addColumn('cursor_ts', 'text')
    .addColumn('cursor_id', 'text')
    .addColumn('rows_seen', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Every source row hubsync has announced: its first sighting is "created", later ones "updated".
  await db.schema
    .createTable('outbox_source_rows')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('row_id', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('outbox_source_rows_pkey', ['source', 'row_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox_source_rows').ifExists().execute();
  await db.schema.dropTable('outbox_cursors').ifExists().execute();
  await db.schema.dropTable('app_event_outbox').ifExists().execute();
}
