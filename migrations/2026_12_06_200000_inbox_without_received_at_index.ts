import { sql, type Kysely } from 'kysely';

/**
 * `webhook_events_received_at_idx` goes. Its one reader was retention, which now walks the primary
 * key (ids follow receipt); yet every stored event wrote an entry into it, and so did every
 * processed mark (the mark cannot be a HOT update: the pending index's predicate names
 * `processed_at`): a mark of 500 events took 19 ms without it, 22 ms with it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists webhook_events_received_at_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index webhook_events_received_at_idx on webhook_events (received_at)`.execute(db);
}
