import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * Refreshes the planner statistics of the mirror tables. A bulk load (a backfill, a first search
 * over a big portal) grows them faster than autovacuum re-analyzes, and plans made for a small
 * table slow every page write tenfold until it does.
 */
export async function analyzeMirror(db: Kysely<Database>): Promise<void> {
  await sql`analyze hubspot_objects, change_ledger`.execute(db);
}
