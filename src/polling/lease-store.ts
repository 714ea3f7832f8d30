import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Takes the lease if it is free, expired or already ours; one statement, so two workers racing
 * for it cannot both win. Returns true when `owner` now holds it until `now + ttlMs`.
 */
export async function acquireLease(db: Db, name: string, owner: string, now: Date, ttlMs: number): Promise<boolean> {
  const expires = new Date(now.getTime() + ttlMs);
  const result = await sql<{ name: string }>`
    insert into job_leases (name, owner, acquired_at, expires_at)
    values (${name}, ${owner}, ${now}, ${expires})
    on conflict (name) do update set owner = excluded.owner, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
    where job_leases.expires_at <= ${now} or job_leases.owner = ${owner}
    returning name`.execute(db);
  return result.rows.length === 1;
}

/** Extends a lease we hold; false when it was lost (expired and taken by another worker). */
export async function renewLease(db: Db, name: string, owner: string, now: Date, ttlMs: number): Promise<boolean> {
  const result = await db
    .updateTable('job_leases')
    .set({ expires_at: new Date(now.getTime() + ttlMs) })
    .where('name', '=', name)
    .where('owner', '=', owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Gives a lease back so another worker can run the job at once. */
export async function releaseLease(db: Db, name: string, owner: string): Promise<void> {
  await db.deleteFrom('job_leases').where('name', '=', name).where('owner', '=', owner).execute();
}

/** Leases held at `now` (unexpired), oldest first: which process runs what. */
export async function heldLeases(db: Db, now: Date): Promise<{ name: string; owner: string; acquiredAt: Date; expiresAt: Date }[]> {
  const rows = await db.selectFrom('job_leases').selectAll().where('expires_at', '>', now).orderBy('acquired_at').execute();
  return rows.map((r) => ({ name: r.name, owner: r.owner, acquiredAt: r.acquired_at, expiresAt: r.expires_at }));
}
