import net from 'node:net';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { postgresListen } from '../../../src/db/listen.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, waitFor } from '../webhooks/helpers.ts';

const testDb = useTestDb();

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

  it.runIf(serverUrl)('listens again after its connection is dropped, and says so once each way', async () => {
    let heard = 0;
    const { log, lines } = captureLogger();
    const unlisten = await postgresListen({ connectionString: testDb.url! }, log)('hubsync_test', () => (heard += 1));
    try {
      const dropped = await sql<{ n: number }>`
        select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
        where datname = current_database() and query like 'listen %'`.execute(testDb.db);
      expect(dropped.rows[0]!.n).toBe(1);
      // Back: it says so once (notifications may have been missed meanwhile), then hears new ones.
      await waitFor(() => heard === 2);
      await sql`select pg_notify('hubsync_test', '')`.execute(testDb.db);
      await waitFor(() => heard === 3);
      expect(lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('database listener')).map((l) => l.msg)).toEqual([
        'database listener connection lost; polling until it is back',
        'database listener connection back',
      ]);
    } finally {
      await unlisten();
    }
  });

  it('says once that it lost its connection, however many reconnections fail', async () => {
    // A server that hangs up on every connection until told to let them through to nowhere: each attempt fails.
    let attempts = 0;
    const server = net.createServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const { log, lines } = captureLogger();
    const unlisten = await postgresListen({ connectionString: `postgres://postgres@127.0.0.1:${port}/none`, connectionTimeoutMillis: 1000 }, log)('hubsync_test', () => undefined);
    const said = () => lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('database listener'));
    try {
      // Wait for the client to have logged its failures (the server counts an attempt before the client sees it fail).
      await waitFor(() => attempts >= 3 && said().filter((l) => l.level === 20).length >= 2);
      expect(said().filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['database listener connection lost; polling until it is back']);
    } finally {
      await unlisten();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
