import { sql, type Kysely } from 'kysely';

/**
 * Mirror updates that Postgres can do in place (HOT), and one sane plan for the mirror's lock.
 *
 * - `hubspot_objects_hs_updated_at_idx` goes. No hubsync query reads it, yet `hs_updated_at`
 *   changes on almost every write, so it made every mirror update a new tuple plus an entry in
 *   each index (2% HOT, 48k dead rows for 1k live ones after 62k webhook events). Without
 *   statistics (a fresh or webhook-only database) the planner also preferred it, being smaller,
 *   to the primary key for the lock's per-key probes, filtering hundreds of rows per key.
 * - fillfactor 80 leaves room on each page for the new version of a row, so an update stays on
 *   its page and the old version is pruned without a VACUUM. It applies to pages written from
 *   now on (existing pages fill as they are rewritten).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists hubspot_objects_hs_updated_at_idx`.execute(db);
  await sql`alter table hubspot_objects set (fillfactor = 80)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table hubspot_objects reset (fillfactor)`.execute(db);
  await sql`create index hubspot_objects_hs_updated_at_idx on hubspot_objects (portal_id, object_type, hs_updated_at)`.execute(db);
}
