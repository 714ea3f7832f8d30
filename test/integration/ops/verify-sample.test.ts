import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { sampleIds, sampleRecords } from '../../../src/verify/verify-store.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

// 20,000 rows: contacts fill the table, `2-77` is one row in 50; every seventh row is merged away.
beforeAll(async () => {
  await sql`
    insert into hubspot_objects (portal_id, object_type, object_id, properties, first_seen_via, first_seen_at, updated_at, merged_into)
    select 5, case when i % 50 = 0 then '2-77' else 'contacts' end, i::text, jsonb_build_object('email', 'c' || i || '@example.com', 'notes', repeat('x', 200)),
      'poll', now(), now(), case when i % 7 = 0 then '1' end
    from generate_series(1, 20000) i`.execute(testDb.db);
});

const expectedOf = (type: string, id: string) => {
  const i = Number(id);
  return i % 7 !== 0 && (type === '2-77') === (i % 50 === 0);
};

describe(`verify's sample on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('draws a common type from a few random pages, not from every row; a rare one among its rows; never an id merged away', async () => {
    const common = await sampleIds(testDb.db, 5, 'contacts', 50);
    expect(common.method).toBe('pages');
    expect(new Set(common.ids).size).toBe(50);
    expect(common.ids.every((id) => expectedOf('contacts', id))).toBe(true);
    // Another draw is another sample.
    expect((await sampleIds(testDb.db, 5, 'contacts', 50)).ids.sort()).not.toEqual([...common.ids].sort());

    const rare = await sampleIds(testDb.db, 5, '2-77', 50);
    expect(new Set(rare.ids).size).toBe(50);
    expect(rare.ids.every((id) => expectedOf('2-77', id))).toBe(true);

    // Asking for more than there are gives every one.
    const all = await sampleRecords(testDb.db, 5, '2-77', 1000);
    expect(all.map((r) => Number(r.objectId)).sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, i) => (i + 1) * 50).filter((i) => i % 7 !== 0));
    expect(all[0]).toMatchObject({ properties: { email: `c${all[0]!.objectId}@example.com` }, archived: false, mergedInto: null, erased: false });
    expect(await sampleRecords(testDb.db, 5, 'deals', 10)).toEqual([]);
  });
});
