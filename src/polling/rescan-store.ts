/** Queries on sync_rescans: requests that a job re-read from a point in time, and their completion. */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** Asks each job to re-read from `from` at its next poll. Call in the transaction that found the reason. */
export async function requestRescans(db: Db, jobNames: readonly string[], from: Date, reason: string, now: Date): Promise<void> {
  if (jobNames.length === 0) return;
  await db
    .insertInto('sync_rescans')
    .values(jobNames.map((job) => ({ job_name: job, rescan_from: from, reason, requested_at: now })))
    .execute();
}

/** The oldest point a job is asked to re-read from, and the newest request that covers; undefined when none waits. */
export async function pendingRescan(db: Db, jobName: string): Promise<{ from: number; upTo: number } | undefined> {
  const row = await db
    .selectFrom('sync_rescans')
    .select((eb) => [eb.fn.min('rescan_from').as('from'), eb.fn.max('id').as('up_to')])
    .where('job_name', '=', jobName)
    .where('done_at', 'is', null)
    .executeTakeFirst();
  if (!row || row.from === null || row.up_to === null) return undefined;
  return { from: new Date(row.from).getTime(), upTo: Number(row.up_to) };
}

/** Marks a job's requests up to `upTo` done (a poll that started from their point finished). */
export async function completeRescans(db: Db, jobName: string, upTo: number, now: Date): Promise<void> {
  await db.updateTable('sync_rescans').set({ done_at: now }).where('job_name', '=', jobName).where('id', '<=', upTo).where('done_at', 'is', null).execute();
}
