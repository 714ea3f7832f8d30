import { sql, type Kysely } from 'kysely';

/**
 * The inbox's housekeeping stops costing the worker it serves.
 *
 * - VACUUM never truncates `webhook_pending` (`vacuum_truncate = false`). A drained queue's pages
 *   are all empty, and truncating them needs the table's ACCESS EXCLUSIVE lock, which VACUUM keeps
 *   asking for (up to five seconds) while every claim reads the table, and holds against the claims
 *   once it gets it: on the pipeline benchmark each VACUUM of the queue took 1.4 s, 16–19 ms
 *   without the truncation. The empty pages are reused by the next events.
 * - `webhook_events` is analysed from a sample of 3,000 rows instead of 30,000 (statistics target
 *   10; none for `payload`, which no query filters on). Its queries go by key or through the
 *   queue; the planner needs null fractions and rough distributions, not fine histograms. The
 *   worker analyses the inbox each time a tenth of it has changed: 380–570 ms at 300,000 events,
 *   about 30 ms now.
 */
const INBOX_STATISTICS = 10;
const INBOX_COLUMNS = [
  'id', 'source', 'dedup_key', 'portal_id', 'app_id', 'event_id', 'subscription_id', 'subscription_type', 'object_type',
  'object_id', 'occurred_at', 'first_attempt', 'last_attempt', 'deliveries', 'received_at', 'last_received_at', 'attempts',
  'next_attempt_at', 'processed_at', 'failed_at', 'error',
];

function statistics(target: (column: string) => number) {
  const columns = [...INBOX_COLUMNS, 'payload'].map((column) => sql`alter column ${sql.ref(column)} set statistics ${sql.lit(target(column))}`);
  return sql`alter table webhook_events ${sql.join(columns)}`;
}

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table webhook_pending set (vacuum_truncate = false)`.execute(db);
  await statistics((column) => (column === 'payload' ? 0 : INBOX_STATISTICS)).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await statistics(() => -1).execute(db);
  await sql`alter table webhook_pending reset (vacuum_truncate)`.execute(db);
}
