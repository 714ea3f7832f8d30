import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { maintainTables, tableActivity } from '../../../src/db/maintenance.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { waitFor } from '../webhooks/helpers.ts';

const testDb = useTestDb();

describe('table maintenance', () => {
  it('analyses a table written since its last statistics and vacuums its dead rows, then has nothing to do', async () => {
    const { db } = testDb;
    // Where the server runs autovacuum, it must not do this test's work first.
    await sql`alter table hubspot_objects set (autovacuum_enabled = false)`.execute(db);
    await sql`insert into hubspot_objects (portal_id, object_type, object_id, first_seen_via, first_seen_at, updated_at)
      select 1, 'contacts', g::text, 'poll', now(), now() from generate_series(1, 500) g`.execute(db);
    await sql`delete from hubspot_objects where object_id::int % 2 = 0`.execute(db);
    // The server's counters reach the statistics views within about a second.
    await waitFor(async () => (await tableActivity(db, ['hubspot_objects']))[0]!.deadRows >= 250);
    expect(await maintainTables(db, ['hubspot_objects', 'change_ledger'])).toEqual({ analyze: ['hubspot_objects'], vacuum: ['hubspot_objects'] });
    const { rows } = await sql<{ reltuples: number }>`select reltuples::float8 as reltuples from pg_class where relname = 'hubspot_objects'`.execute(db);
    expect(Number(rows[0]!.reltuples)).toBe(250);
    await waitFor(async () => (await tableActivity(db, ['hubspot_objects']))[0]!.deadRows === 0);
    expect(await maintainTables(db, ['hubspot_objects', 'change_ledger'])).toEqual({ analyze: [], vacuum: [] });
  });
});
