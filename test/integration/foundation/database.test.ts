import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { arrayLiteral } from '../../../src/db/sql.ts';
import { prepared, statementName } from '../../../src/db/prepared.ts';
import { createTestDb, serverUrl, type TestDb } from '../../helpers/db.ts';

describe('database plumbing', () => {
  let test: TestDb;
  beforeAll(async () => {
    test = await createTestDb({ migrate: false });
  });
  afterAll(() => test.close());

  it('sends array literals the database reads back element for element', async () => {
    const texts = ['', 'plain', 'NULL', 'null', 'a,b', '{braces}', 'say "hi"', 'back\\slash', '\\"', ' padded ', 'ünï ☃ 𝄞', 'line\nbreak', 'a "b" \\ c ☃', 'quote "𝄞"', 'tab\t"q"'];
    const { rows } = await sql<{ t: string | null; n: number | null; b: boolean | null }>`
      select * from unnest(${arrayLiteral([...texts, null])}::text[], ${arrayLiteral([...texts.map((_, i) => i * 1_000_000_007), null])}::int8[],
        ${arrayLiteral([...texts.map((_, i) => i % 2 === 0), null])}::bool[]) as u(t, n, b)`.execute(test.db);
    expect(rows.map((r) => r.t)).toEqual([...texts, null]);
    expect(rows.map((r) => r.n)).toEqual([...texts.map((_, i) => i * 1_000_000_007), null]);
    expect(rows.map((r) => r.b)).toEqual([...texts.map((_, i) => i % 2 === 0), null]);
    const json = JSON.stringify({ email: 'a"b\\c@example.com', none: null, note: 'line\nbreak 𝄞' });
    const parsed = await sql<{ j: unknown }>`select unnest(${arrayLiteral([json])}::jsonb[]) as j`.execute(test.db);
    expect(parsed.rows[0]!.j).toEqual(JSON.parse(json));
  });

  it.skipIf(!serverUrl)('turns JIT compilation off on every pooled connection (Postgres)', async () => {
    const jit = await Promise.all(Array.from({ length: 3 }, () => test.db.transaction().execute(async (trx) => (await sql<{ jit: string }>`show jit`.execute(trx)).rows[0]!.jit)));
    expect(jit).toEqual(['off', 'off', 'off']);
  });

  it('names only marked statements, one stable name per text', () => {
    const marked = sql`${prepared} select 1`.compile(test.db).sql;
    expect(statementName(marked)).toMatch(/^hubsync_[0-9a-f]{24}$/);
    expect(statementName(marked)).toBe(statementName(marked));
    expect(statementName(`${marked} `)).not.toBe(statementName(marked));
    expect(statementName('select 1')).toBeUndefined();
  });

  it('prepares marked statements once per session, and not at all when turned off', async () => {
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

  it('runs prepared statements like any other: parameter types, row counts, errors, transactions', async () => {
    await sql`create table prepared_probe (id int8 primary key, at timestamptz not null, doc jsonb not null)`.execute(test.db);
    const at = new Date('2026-12-05T10:00:00.123Z');
    const insert = (ids: number[]) =>
      sql`${prepared} insert into prepared_probe select id, ${at}, ${JSON.stringify({ ids })}::jsonb from unnest(${arrayLiteral(ids)}::int8[]) as id`;
    expect((await insert([1, 2]).execute(test.db)).numAffectedRows).toBe(2n);
    const read = await sql<{ id: number; at: Date; doc: unknown }>`${prepared} select id, at, doc from prepared_probe order by id`.execute(test.db);
    expect(read.rows).toEqual([
      { id: 1, at, doc: { ids: [1, 2] } },
      { id: 2, at, doc: { ids: [1, 2] } },
    ]);
    // A failing execution names its SQLSTATE and leaves the session usable, in a transaction or not.
    await expect(insert([2, 3]).execute(test.db)).rejects.toMatchObject({ code: '23505' });
    await expect(test.db.transaction().execute((trx) => insert([3, 1]).execute(trx))).rejects.toMatchObject({ code: '23505' });
    expect((await insert([3]).execute(test.db)).numAffectedRows).toBe(1n);
    expect((await sql<{ n: number }>`select count(*)::int as n from prepared_probe`.execute(test.db)).rows).toEqual([{ n: 3 }]);
  });
});
