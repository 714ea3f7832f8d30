import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_NAME } from '../../../src/db/directory-lock.ts';
import { SOCKET_NAME } from '../../../src/db/embedded-socket.ts';
import { openDatabase, type DatabaseHandle } from '../../../src/db/index.ts';
import { DatabaseInUseError } from '../../../src/errors.ts';
import { testDatabaseConfig } from '../../helpers/db.ts';
import { captureLogger } from '../webhooks/helpers.ts';

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

describe('a lock left by a process that is gone', () => {
  const config = (name: string) => ({ ...testDatabaseConfig(), embeddedDir: path.join(dir, name) });

  it('is taken over by the next daemon, which says what it replaced', async () => {
    const { log, lines } = captureLogger();
    mkdirSync(config('crashed').embeddedDir);
    // What a killed daemon leaves: its lock (a pid that has exited) and its socket file.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(path.join(config('crashed').embeddedDir, LOCK_NAME), JSON.stringify({ pid: gone, role: 'daemon' }));
    writeFileSync(path.join(config('crashed').embeddedDir, SOCKET_NAME), '');
    const second = await openDatabase(config('crashed'), log, { serve: true });
    try {
      expect(lines().map((line) => line.msg)).toContain(
        `took over the embedded database directory from hubsync pid ${gone}, which is no longer running: the lock file and socket it left replaced`,
      );
      expect(JSON.parse(readFileSync(path.join(config('crashed').embeddedDir, LOCK_NAME), 'utf8'))).toMatchObject({ pid: process.pid, role: 'daemon' });
    } finally {
      await second.close();
    }
  });

  it('is taken over when its pid now belongs to another process (a restarted container reuses pids)', async () => {
    const { log, lines } = captureLogger();
    const { embeddedDir } = config('reused');
    mkdirSync(embeddedDir);
    // This very process holds the pid now, but it started at another time than the lock's holder.
    writeFileSync(path.join(embeddedDir, LOCK_NAME), JSON.stringify({ pid: process.pid, role: 'daemon', started: '1' }));
    const second = await openDatabase(config('reused'), log, { serve: true });
    await second.close();
    expect(lines().some((line) => String(line.msg).startsWith(`took over the embedded database directory from hubsync pid ${process.pid}`))).toBe(true);
  });
});
