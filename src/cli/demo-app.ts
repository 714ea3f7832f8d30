/**
 * The demo's sample app: a contacts table of the app's own, which the outbox watches
 * (`outbox.source`) and turns into App Events sent to the Paragon stand-in, so the demo shows
 * hubsync's other direction too. Its SQL is the app's, not hubsync's: it lives with the demo.
 */
import { sql, type Kysely } from 'kysely';

export const DEMO_APP_TABLE = 'demo_app_contacts';

/** The outbox source that watches the table. */
export const DEMO_APP_SOURCE = {
  table: DEMO_APP_TABLE,
  id: 'id',
  updatedAt: 'updated_at',
  user: 'owner_id',
  fields: { email: 'email', firstName: 'first_name' },
  pollIntervalMs: 500,
};

export async function createDemoApp(db: Kysely<any>): Promise<void> {
  await sql`create table if not exists demo_app_contacts (
    id serial primary key,
    owner_id text not null,
    email text not null,
    first_name text,
    updated_at timestamptz not null default now()
  )`.execute(db);
}

/** What the app does meanwhile: a new contact, and an edit of an earlier one. Returns the rows written. */
export async function demoAppActivity(db: Kysely<any>, tick: number): Promise<number> {
  const owner = `user-${(tick % 3) + 1}`;
  await sql`insert into demo_app_contacts (owner_id, email, first_name) values (${owner}, ${`app-contact-${tick}@example.com`}, ${`Contact ${tick}`})`.execute(db);
  if (tick < 2) return 1;
  await sql`update demo_app_contacts set first_name = ${`Renamed ${tick}`}, updated_at = now() where id = ${Math.ceil(tick / 2)}`.execute(db);
  return 2;
}
