import { sql, type Kysely } from 'kysely';

/**
 * change_ledger's primary key ordered (portal, type, occurred_at, object, property): the same
 * uniqueness, and it now serves the reports' and the retention's time-range reads itself, so the
 * separate (portal, type, occurred_at) index goes and every ledger row costs one index entry, not two.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table change_ledger drop constraint change_ledger_pkey`.execute(db);
  await sql`alter table change_ledger add constraint change_ledger_pkey
    primary key (portal_id, object_type, occurred_at, object_id, property)`.execute(db);
  await sql`drop index change_ledger_occurred_at_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index change_ledger_occurred_at_idx on change_ledger (portal_id, object_type, occurred_at)`.execute(db);
  await sql`alter table change_ledger drop constraint change_ledger_pkey`.execute(db);
  await sql`alter table change_ledger add constraint change_ledger_pkey
    primary key (portal_id, object_type, object_id, property, occurred_at)`.execute(db);
}
