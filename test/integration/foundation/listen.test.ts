import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, serverUrl, type TestDb } from '../../helpers/db.ts';
import { waitFor } from '../webhooks/helpers.ts';

let testDb: TestDb;
beforeAll(async () => {
  testDb = await createTestDb();
});
afterAll(async () => {
  await testDb?.close();
});

describe('database listener', () => {
  it('hears a notification once it is committed, and nothing after it stops listening', async () => {
    let heard = 0;
    const unlisten = await testDb.listen('hubsync_test', () => (heard += 1));
    // Listening (re)started: once, for anything sent while no one listened.
    expect(heard).toBe(1);
    await testDb.db.transaction().execute(async (trx) => {
      await sql`select pg_notify('hubsync_test', '')`.execute(trx);
      await sql`select pg_notify('other_channel', '')`.execute(trx);
    });
    await waitFor(() => heard === 2);
    await unlisten();
    await sql`select pg_notify('hubsync_test', '')`.execute(testDb.db);
    // A notification to a listener that is gone would arrive in the time another round trip takes.
    await sql`select 1`.execute(testDb.db);
    expect(heard).toBe(2);
  });

  it.runIf(serverUrl)('listens again after its connection is dropped', async () => {
    let heard = 0;
    const unlisten = await testDb.listen('hubsync_test', () => (heard += 1));
    try {
      const dropped = await sql<{ n: number }>`
        select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
        where datname = current_database() and query like 'listen %'`.execute(testDb.db);
      expect(dropped.rows[0]!.n).toBe(1);
      // Back: it says so once (notifications may have been missed meanwhile), then hears new ones.
      await waitFor(() => heard === 2);
      await sql`select pg_notify('hubsync_test', '')`.execute(testDb.db);
      await waitFor(() => heard === 3);
    } finally {
      await unlisten();
    }
  });
});
