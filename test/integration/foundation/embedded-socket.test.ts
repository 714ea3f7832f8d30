import net from 'node:net';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveSession, SOCKET_NAME, type SessionServer } from '../../../src/db/embedded-socket.ts';
import { SessionLock } from '../../../src/db/session-lock.ts';
import { createLogger } from '../../../src/log.ts';
import { tempDir } from '../../helpers/temp.ts';
import { waitFor } from '../webhooks/helpers.ts';

// The socket in front of one PGlite session, as the daemon serves it: every test ends with the
// daemon's own statement answered, which is what the input under test would have taken away.
const dir = tempDir('hubsync-socket');
const IDLE_MS = 300;
let pglite: PGlite;
let lock: SessionLock;
let server: SessionServer;
const fatal: Error[] = [];
const quiet = createLogger({ level: 'silent' });

beforeAll(async () => {
  pglite = await PGlite.create();
  lock = new SessionLock();
  await pglite.exec('create table t (n int primary key)');
  server = await serveSession(pglite, lock, path.join(dir, SOCKET_NAME), quiet, { idleInTransactionMs: IDLE_MS, onFatal: (err) => fatal.push(err) });
});
afterAll(async () => {
  await server?.close();
  await pglite?.close();
});

/** A statement of the daemon: it takes its turn on the session as the Kysely dialect does. */
async function daemon<T>(text: string): Promise<T[]> {
  const release = await lock.acquire();
  try {
    return (await pglite.query<T>(text)).rows;
  } finally {
    release();
  }
}

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ host: dir, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

function typed(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}
const startup = () => {
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
};
const parse = (text: string) => typed('P', Buffer.concat([Buffer.from(`\0${text}\0`), Buffer.alloc(2)]));
const bind = () => typed('B', Buffer.alloc(8));
const execute = () => typed('E', Buffer.alloc(5));

/** A raw client: sends its startup, then `messages`, and hangs up without waiting for more (a killed process). */
async function rawClient(messages: Buffer[], options: { hangUp?: boolean } = {}): Promise<{ received: Buffer; closedByServer: boolean }> {
  const socket = net.createConnection(path.join(dir, SOCKET_NAME));
  let received = Buffer.alloc(0);
  let closedByServer = false;
  socket.on('data', (data) => (received = Buffer.concat([received, data])));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('end', () => (closedByServer = true));
  await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  socket.write(startup());
  await waitFor(() => received.includes('Z\0\0\0\x05I', 0, 'latin1'));
  const ready = received.length;
  socket.write(Buffer.concat(messages));
  await waitFor(() => received.length > ready || closedByServer);
  if (options.hangUp !== false) socket.destroy();
  await closed;
  return { received: received.subarray(ready), closedByServer };
}

describe('the embedded database socket', () => {
  it('refuses COPY from the client or a program with an error, in simple and extended protocol, and the database lives on', async () => {
    const client = await connect();
    try {
      await expect(client.query('copy t from stdin')).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('COPY from the client') });
      await expect(client.query("/* psql's \\copy */ COPY t (n)\n  FROM\n  STDIN with (format csv)")).rejects.toMatchObject({ code: '0A000' });
      await expect(client.query("copy t from program 'echo 1'")).rejects.toMatchObject({ code: '0A000' });
      await expect(client.query("copy t from '/dev/blob'")).rejects.toMatchObject({ code: '0A000' });
      // Extended protocol (a query with a parameter list), inside a transaction: the transaction fails as it would on Postgres.
      await client.query('begin');
      await expect(client.query({ text: 'copy t from stdin', values: [] })).rejects.toMatchObject({ code: '0A000' });
      await expect(client.query('select 1')).rejects.toMatchObject({ code: '25P02' });
      await client.query('rollback');
      // Reading out with COPY … TO STDOUT is fine.
      expect((await client.query('copy (select 1) to stdout')).rowCount).toBe(1);
      expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await client.end();
    }
    expect(await daemon('select 1 as one')).toEqual([{ one: 1 }]);
    expect(fatal).toEqual([]);
  });

  it('closes a connection that sends a message type Postgres does not know, with a FATAL error, and the database lives on', async () => {
    const { received, closedByServer } = await rawClient([typed('Z', Buffer.alloc(0))], { hangUp: false });
    expect(closedByServer).toBe(true);
    expect(received.toString('latin1')).toContain('invalid frontend message type 90');
    expect(received[0]).toBe(0x45);
    const negative = await rawClient([Buffer.from([0x51, 0xff, 0xff, 0xff, 0xf0])], { hangUp: false });
    expect(negative.received.toString('latin1')).toContain('invalid message length');
    expect(await daemon('select 1 as one')).toEqual([{ one: 1 }]);
  });

  it("rolls back what a client killed part-way through an extended-protocol exchange left, and skips none of the daemon's statements", async () => {
    // Executed but never synced: on Postgres the lost connection aborts it; here the daemon's next Sync would have committed it.
    await rawClient([parse('insert into t values (20)'), bind(), execute()]);
    // An error, then gone before its Sync: the session would have skipped the daemon's next statement.
    await rawClient([parse('select nope'), bind(), execute()]);
    expect(await daemon('select count(*)::int as n from t where n = 20')).toEqual([{ n: 0 }]);
    expect(await daemon('select 1 as one')).toEqual([{ one: 1 }]);
    expect(pglite.isInTransaction()).toBe(false);
  });

  it('rolls back and disconnects a client that sits idle in a transaction, so the daemon goes on', async () => {
    const client = await connect();
    const ended = new Promise<void>((resolve) => client.on('end', () => resolve()));
    await client.query('begin');
    await client.query('insert into t values (30)');
    // The daemon waits its turn until the idle limit passes.
    expect(await daemon('select count(*)::int as n from t where n = 30')).toEqual([{ n: 0 }]);
    await ended;
    expect(pglite.isInTransaction()).toBe(false);
  });

  it('takes a large statement that arrives in many pieces, and one dribbled a few bytes at a time', async () => {
    const client = await connect();
    try {
      const result = await client.query<{ n: number }>('select length($1::text) as n', ['x'.repeat(4_000_000)]);
      expect(result.rows).toEqual([{ n: 4_000_000 }]);
    } finally {
      await client.end();
    }
    const socket = net.createConnection(path.join(dir, SOCKET_NAME));
    let received = Buffer.alloc(0);
    socket.on('data', (data) => (received = Buffer.concat([received, data])));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    try {
      const bytes = Buffer.concat([startup(), typed('Q', Buffer.from("select 'dribbled' as word\0"))]);
      for (let at = 0; at < bytes.length; at += 3) {
        socket.write(bytes.subarray(at, at + 3));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor(() => received.lastIndexOf('Z\0\0\0\x05I', undefined, 'latin1') > received.indexOf('Z\0\0\0\x05I', 0, 'latin1'));
      expect(received.includes('dribbled', 0, 'latin1')).toBe(true);
    } finally {
      socket.destroy();
    }
    expect(await daemon<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('serves a large result whole', async () => {
    const client = await connect();
    try {
      const result = await client.query("select n, repeat('x', 1000) as pad from generate_series(1, 20000) n");
      expect(result.rowCount).toBe(20_000);
      expect(result.rows.at(-1)).toMatchObject({ n: 20_000 });
    } finally {
      await client.end();
    }
  });

  it('reports PGlite stopping (its program exited) instead of serving on', async () => {
    const exited = Object.assign(new Error('Program terminated with exit(1)'), { name: 'ExitStatus' });
    const stopped = { runExclusive: <T>(work: () => Promise<T>) => work(), execProtocolRaw: () => Promise.reject(exited) } as unknown as PGlite;
    const seen: Error[] = [];
    const socketPath = path.join(dir, 'stopped.sock');
    const other = await serveSession(stopped, new SessionLock(), socketPath, quiet, { onFatal: (err) => seen.push(err) });
    try {
      const socket = net.createConnection(socketPath);
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
      socket.write(startup());
      await waitFor(() => seen.length > 0);
      expect(seen[0]).toBe(exited);
      socket.destroy();
    } finally {
      await other.close();
    }
  });
});
