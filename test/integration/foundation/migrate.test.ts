import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { assertSchemaCurrent, migrateToLatest, pendingMigrations } from '../../../src/db/migrate.ts';
import { SchemaBehindError } from '../../../src/errors.ts';
import { createTestDb, type TestDb } from '../../helpers/db.ts';
import * as heartbeats from '../../../migrations/2026_12_06_170000_process_heartbeats.ts';

const HEARTBEATS = '2026_12_06_170000_process_heartbeats';

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
