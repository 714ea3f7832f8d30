import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../../src/db/index.ts';
import { DatabaseInUseError } from '../../../src/errors.ts';
import { testDatabaseConfig } from '../../helpers/db.ts';

let dir: string;
let daemon: DatabaseHandle;
const config = () => ({ ...testDatabaseConfig(), embeddedDir: path.join(dir, 'data') });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hubsync-owner-'));
  daemon = await openDatabase(config(), undefined, { serve: true });
  await sql`create table t (n int)`.execute(daemon.db);
});
afterAll(async () => {
  await daemon?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the embedded database with a daemon running', () => {
  it('refuses a second owner, naming the holder', async () => {
    const second = openDatabase(config(), undefined, { serve: true });
    await expect(second).rejects.toBeInstanceOf(DatabaseInUseError);
    await expect(second).rejects.toThrow(`in use by a running hubsync daemon (pid ${process.pid})`);
  });

  it('serves it on an owner-only socket in its directory, through which commands read and write the same data', async () => {
    const socket = path.join(config().embeddedDir, '.s.PGSQL.5432');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const command = await openDatabase(config());
    try {
      expect(command.description).toContain('through the running daemon');
      await sql`insert into t values (7)`.execute(command.db);
      expect((await sql<{ n: number }>`select n from t`.execute(daemon.db)).rows).toEqual([{ n: 7 }]);
    } finally {
      await command.close();
      await sql`delete from t`.execute(daemon.db);
    }
  });

  it("never runs a daemon statement inside a socket client's transaction", async () => {
    const client = new pg.Client({ host: config().embeddedDir, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      await client.query('begin');
      await client.query('insert into t values (1)');
      // The daemon's write waits for the client's transaction to end...
      let written = false;
      const write = sql`insert into t values (2)`.execute(daemon.db).then(() => (written = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(written).toBe(false);
      // ...so the client's rollback takes only the client's row with it.
      await client.query('rollback');
      await write;
      expect((await sql<{ n: number }>`select n from t`.execute(daemon.db)).rows).toEqual([{ n: 2 }]);
    } finally {
      await client.end();
    }
  });
});
