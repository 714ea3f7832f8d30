import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { prepared, statementName } from '../../../src/db/prepared.ts';
import { createTestDb, serverUrl, type TestDb } from '../../helpers/db.ts';

describe('database plumbing', () => {
  let test: TestDb;
  beforeAll(async () => {
    test = await createTestDb({ migrate: false });
  });
  afterAll(() => test.close());

  it('names only marked statements, one stable name per text', () => {
    const marked = sql`${prepared} select 1`.compile(test.db).sql;
    expect(statementName(marked)).toMatch(/^hubsync_[0-9a-f]{24}$/);
    expect(statementName(marked)).toBe(statementName(marked));
    expect(statementName(`${marked} `)).not.toBe(statementName(marked));
    expect(statementName('select 1')).toBeUndefined();
  });

  it.skipIf(!serverUrl)('prepares marked statements once per connection on Postgres, and not at all when turned off', async () => {
    const marked = (n: number) => sql<{ n: number }>`${prepared} select ${n}::int8 + 1 as n`;
    const name = statementName(marked(0).compile(test.db).sql);
    const preparedHere = async (db: TestDb['db']) =>
      db.transaction().execute(async (trx) => {
        expect((await marked(1).execute(trx)).rows).toEqual([{ n: 2 }]);
        expect((await marked(41).execute(trx)).rows).toEqual([{ n: 42 }]);
        const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(trx);
        return rows.map((r) => r.name);
      });
    expect(await preparedHere(test.db)).toEqual([name]);

    const unprepared = await openDatabase({ ...test.config, preparedStatements: false });
    try {
      expect(await preparedHere(unprepared.db)).toEqual([]);
    } finally {
      await unprepared.close();
    }
  });
});
