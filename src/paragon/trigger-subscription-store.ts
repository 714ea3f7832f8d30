/** Queries on paragon_trigger_subscriptions: the ids of the trigger subscriptions hubsync made, per user. */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/** A user's recorded subscriptions: id → the configured trigger's key. */
export async function recordedTriggerSubscriptions(db: Kysely<Database>, user: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom('paragon_trigger_subscriptions').select(['subscription_id', 'trigger_key']).where('user_id', '=', user).execute();
  return new Map(rows.map((row) => [row.subscription_id, row.trigger_key]));
}

/** Records subscriptions hubsync made or recognised as its own. */
export async function recordTriggerSubscriptions(db: Kysely<Database>, user: string, subscriptions: readonly { id: string; key: string }[], now: Date): Promise<void> {
  if (subscriptions.length === 0) return;
  await db
    .insertInto('paragon_trigger_subscriptions')
    .values(subscriptions.map((s) => ({ user_id: user, subscription_id: s.id, trigger_key: s.key, recorded_at: now })))
    .onConflict((oc) => oc.columns(['user_id', 'subscription_id']).doUpdateSet((eb) => ({ trigger_key: eb.ref('excluded.trigger_key') })))
    .execute();
}

/** Forgets subscriptions that are gone (deleted by hubsync or by someone else). */
export async function forgetTriggerSubscriptions(db: Kysely<Database>, user: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('paragon_trigger_subscriptions').where('user_id', '=', user).where('subscription_id', 'in', ids).execute();
}
