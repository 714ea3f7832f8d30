/** Queries on journal_subscriptions: the subscriptions hubsync made, so it only ever changes its own. */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { DesiredSubscription } from './subscriptions.ts';

export async function managedSubscriptionIds(db: Kysely<Database>): Promise<Set<number>> {
  const rows = await db.selectFrom('journal_subscriptions').select('id').execute();
  return new Set(rows.map((r) => Number(r.id)));
}

/** Remembers a subscription hubsync made or updated, with what it asked for and its filters' ids. */
export async function rememberSubscription(db: Kysely<Database>, id: number, desired: DesiredSubscription, filterIds: readonly number[], now: Date): Promise<void> {
  const values = {
    key: desired.key,
    portal_id: desired.body.portalId ?? null,
    subscription_type: desired.body.subscriptionType,
    spec: JSON.stringify({ ...desired.body, filters: desired.filters }),
    filter_ids: [...filterIds],
    updated_at: now,
  };
  await db
    .insertInto('journal_subscriptions')
    .values({ id, ...values, created_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .execute();
}

export async function forgetSubscriptions(db: Kysely<Database>, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('journal_subscriptions').where('id', 'in', ids).execute();
}
