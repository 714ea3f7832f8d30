import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { untilSettled } from '../../../src/db/savepoint.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

describe('untilSettled', () => {
  it('undoes an attempt that returns nothing (its writes and its locks) and keeps the one that settles', async () => {
    const { db } = testDb;
    /** Whether another session can take the advisory lock `key` (Postgres: the pool hands out another connection). */
    const free = async (key: number) => {
      const taken = (await sql<{ taken: boolean }>`select pg_try_advisory_lock(${key}::int8) as taken`.execute(db)).rows[0]!.taken;
      if (taken) await sql`select pg_advisory_unlock(${key}::int8)`.execute(db);
      return taken;
    };
    let attempts = 0;
    const result = await db.transaction().execute(async (trx) => {
      const settled = await untilSettled(trx, 'test_settle', async () => {
        attempts += 1;
        await sql`insert into hubspot_objects (portal_id, object_type, object_id, first_seen_via, first_seen_at, updated_at)
          values (9, 'contacts', ${`attempt-${attempts}`}, 'poll', now(), now())`.execute(trx);
        await sql`select pg_advisory_xact_lock(${4240 + attempts}::int8)`.execute(trx);
        return attempts < 3 ? undefined : attempts;
      });
      // The undone attempts' locks are free; the settled one's is held until the commit.
      if (serverUrl) expect([await free(4241), await free(4242), await free(4243)]).toEqual([true, true, false]);
      return settled;
    });
    expect(result).toBe(3);
    const ids = await db.selectFrom('hubspot_objects').select('object_id').where('portal_id', '=', 9).execute();
    expect(ids.map((r) => r.object_id)).toEqual(['attempt-3']);
    if (serverUrl) expect(await free(4243)).toBe(true);
  });
});
