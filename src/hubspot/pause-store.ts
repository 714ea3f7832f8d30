import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/** Remembers that a portal's API budget is paused until `until` (the daily limit), across restarts. */
export async function savePause(db: Kysely<Database>, portalId: number, policy: string, until: Date, now: Date): Promise<void> {
  await db
    .insertInto('sync_account_pauses')
    .values({ portal_id: portalId, policy, paused_until: until, created_at: now })
    .onConflict((oc) => oc.column('portal_id').doUpdateSet({ policy, paused_until: until, created_at: now }))
    .execute();
}

/** Pauses still in force at `now`. */
export async function activePauses(db: Kysely<Database>, now: Date): Promise<{ portalId: number; policy: string; until: Date }[]> {
  const rows = await db.selectFrom('sync_account_pauses').selectAll().where('paused_until', '>', now).execute();
  return rows.map((r) => ({ portalId: r.portal_id, policy: r.policy, until: r.paused_until }));
}
