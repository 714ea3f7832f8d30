/** Queries on paragon_trigger_users: the users whose trigger subscriptions hubsync manages. */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

export async function managedTriggerUsers(db: Kysely<Database>): Promise<string[]> {
  const rows = await db.selectFrom('paragon_trigger_users').select('user_id').orderBy('user_id').execute();
  return rows.map((row) => row.user_id);
}

/** Records users before their subscriptions are made, so a crash in between cannot orphan them. */
export async function rememberTriggerUsers(db: Kysely<Database>, users: readonly string[], now: Date): Promise<void> {
  if (users.length === 0) return;
  await db
    .insertInto('paragon_trigger_users')
    .values(users.map((user_id) => ({ user_id, managed_since: now })))
    .onConflict((oc) => oc.column('user_id').doNothing())
    .execute();
}

/** Forgets a user once none of their managed subscriptions is left. */
export async function forgetTriggerUser(db: Kysely<Database>, user: string): Promise<void> {
  await db.deleteFrom('paragon_trigger_users').where('user_id', '=', user).execute();
}
