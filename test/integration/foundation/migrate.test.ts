import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { assertSchemaCurrent, migrateToLatest, pendingMigrations } from '../../../src/db/migrate.ts';
import { SchemaBehindError } from '../../../src/errors.ts';
import { createTestDb, type TestDb } from '../../helpers/db.ts';
import * as heartbeats from '../../../migrations/2026_12_06_170000_process_heartbeats.ts';
import * as pendingQueue from '../../../migrations/2026_12_07_100000_inbox_pending_queue.ts';
import * as pendingShares from '../../../migrations/2026_12_09_100000_inbox_pending_shares.ts';
import { markWebhookEventsFailed, markWebhookEventsProcessed } from '../../../src/webhooks/inbox-store.ts';
import { hubspotEvent, storeHubSpotEvents } from '../webhooks/helpers.ts';

const HEARTBEATS = '2026_12_06_170000_process_heartbeats';
const PENDING_QUEUE = '2026_12_07_100000_inbox_pending_queue';
const PENDING_SHARES = '2026_12_09_100000_inbox_pending_shares';

describe('migrations', () => {
  const opened: TestDb[] = [];
  afterAll(async () => {
    for (const db of opened) await db.close();
  });

  it('detects a schema that is behind, migrates, and is a no-op the second time', async () => {
    const test = await createTestDb({ migrate: false });
    opened.push(test);
    const pending = await pendingMigrations(test.db);
    expect(pending.length).toBeGreaterThan(0);
    await expect(assertSchemaCurrent(test.db)).rejects.toBeInstanceOf(SchemaBehindError);
    const first = await migrateToLatest(test.db);
    expect(first.map((result) => result.migrationName)).toEqual(pending);
    expect(first.every((result) => result.status === 'Success')).toBe(true);
    expect(await migrateToLatest(test.db)).toEqual([]);
    await assertSchemaCurrent(test.db);
  });

  it('applies a migration named before the newest one already applied (work that landed in another order)', async () => {
    const test = await createTestDb();
    opened.push(test);
    // A database migrated by a release that had the later migrations but not this one.
    await heartbeats.down(test.db);
    await test.db.deleteFrom('kysely_migration' as never).where('name' as never, '=', HEARTBEATS as never).execute();
    const applied = await migrateToLatest(test.db);
    expect(applied.map((result) => [result.migrationName, result.status])).toEqual([[HEARTBEATS, 'Success']]);
    await assertSchemaCurrent(test.db);
  });

  it('moving the inbox to its queue table carries over exactly the events still waiting, and drops the index that kept marks from being HOT', async () => {
    const test = await createTestDb();
    opened.push(test);
    const at = new Date('2026-12-07T10:00:00.000Z');
    for (const objectId of [1, 2, 3]) await storeHubSpotEvents(test.db, [hubspotEvent({ subscriptionType: 'contact.deletion', objectId })], at);
    const ids = (await test.db.selectFrom('webhook_events').select('id').orderBy('id').execute()).map((r) => r.id);
    await test.db.transaction().execute((trx) => markWebhookEventsProcessed(trx, [ids[0]!], at));
    await markWebhookEventsFailed(test.db, [{ id: ids[1]!, error: 'gave up', retryAt: null }], at);
    // The schema as it was before the queue: the pending index, no queue table.
    await pendingShares.down(test.db);
    await pendingQueue.down(test.db);
    await test.db.deleteFrom('kysely_migration' as never).where('name' as never, 'in', [PENDING_QUEUE, PENDING_SHARES] as never).execute();
    await migrateToLatest(test.db);
    expect((await test.db.selectFrom('webhook_pending').select('id').execute()).map((r) => r.id)).toEqual([ids[2]]);
    const { rows } = await sql<{ indexes: string[]; options: string[] | null }>`
      select array(select indexname::text from pg_indexes where tablename = 'webhook_events' order by 1) as indexes,
             (select reloptions from pg_class where relname = 'webhook_events') as options`.execute(test.db);
    expect(rows[0]!.indexes).not.toContain('webhook_events_pending_idx');
    expect(rows[0]!.options).toEqual(['fillfactor=50']);
  });

  it("gives each queued event its object's share, the events queued before the migration too", async () => {
    const test = await createTestDb();
    opened.push(test);
    const at = new Date('2026-12-09T10:00:00.000Z');
    const store = (objectIds: number[]) => storeHubSpotEvents(test.db, objectIds.map((objectId) => hubspotEvent({ subscriptionType: 'contact.deletion', objectId })), at);
    await store([1, 2, 3]);
    await pendingShares.down(test.db);
    await test.db.deleteFrom('kysely_migration' as never).where('name' as never, '=', PENDING_SHARES as never).execute();
    // Queued by the trigger as it was: no share.
    await store([4, 5, 6]);
    await migrateToLatest(test.db);
    await store([7, 8, 9]);
    const { rows } = await sql<{ share: number; expected: number }>`
      select p.share, webhook_object_share(e.portal_id, e.object_type, e.object_id) as expected
      from webhook_pending p join webhook_events e on e.id = p.id order by p.id`.execute(test.db);
    expect(rows).toHaveLength(9);
    for (const row of rows) expect(row.share).toBe(row.expected);
    // A hash of the object: spread over the lanes, not all one share.
    expect(new Set(rows.map((row) => row.share % 2)).size).toBe(2);
    // A queue row written without it (a release before this one, during a deploy) is share 0.
    await sql`insert into webhook_pending (id) values (1000000)`.execute(test.db);
    expect((await sql<{ share: number }>`select share from webhook_pending where id = 1000000`.execute(test.db)).rows[0]!.share).toBe(0);
  });

  it('keeps the inbox cheap to maintain: a drained queue is not truncated by VACUUM, and the inbox is analysed from a small sample', async () => {
    const test = await createTestDb();
    opened.push(test);
    await sql`insert into webhook_pending (id) select g from generate_series(1, 2000) g`.execute(test.db);
    await sql`delete from webhook_pending`.execute(test.db);
    const size = async () => (await sql<{ pages: number }>`select (pg_relation_size('webhook_pending') / current_setting('block_size')::int)::int as pages`.execute(test.db)).rows[0]!.pages;
    const pages = await size();
    expect(pages).toBeGreaterThan(1);
    // Without vacuum_truncate = false this VACUUM would take the table's ACCESS EXCLUSIVE lock to cut the empty pages off.
    await sql`vacuum webhook_pending`.execute(test.db);
    expect(await size()).toBe(pages);
    const { rows } = await sql<{ attname: string; target: number | null }>`
      select attname::text, attstattarget::int as target from pg_attribute
      where attrelid = 'webhook_events'::regclass and attnum > 0 and not attisdropped`.execute(test.db);
    expect(rows.length).toBeGreaterThan(20);
    for (const { attname, target } of rows) expect([attname, target]).toEqual([attname, attname === 'payload' ? 0 : 10]);
  });

  it('lets two migrations run at the same moment: both succeed, each migration applied once', async () => {
    const test = await createTestDb({ migrate: false });
    opened.push(test);
    // On Postgres the second runner is a separate pool (another process's view); on PGlite both
    // share the one embedded session, as two tasks of the one process would.
    const other = test.url ? await openDatabase(test.config) : test;
    try {
      const [a, b] = await Promise.all([migrateToLatest(test.db), migrateToLatest(other.db)]);
      const applied = [...a, ...b].map((result) => result.migrationName).sort();
      expect(applied).toEqual((await migrationNames(test)).sort());
      expect([...a, ...b].every((result) => result.status === 'Success')).toBe(true);
    } finally {
      if (other !== test) await other.close();
    }
  });
});

async function migrationNames(test: TestDb): Promise<string[]> {
  const rows = await test.db.selectFrom('kysely_migration' as never).select('name' as never).execute();
  return rows.map((row) => (row as { name: string }).name);
}
