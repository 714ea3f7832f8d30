import net from 'node:net';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/index.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { buildReceiver } from '../../../src/webhooks/receiver.ts';
import { serverUrl, testDatabaseConfig } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, hubspotEvent, SECRET_A, testConfig, v1Headers } from './helpers.ts';

const testDb = useTestDb();

const countEvents = async () => Number((await sql<{ n: number }>`select count(*)::int as n from webhook_events`.execute(testDb.db)).rows[0]!.n);

function batches(n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(Array.from({ length: 20 }, (_, j) => hubspotEvent({ objectId: 5000 + i * 20 + j }))));
}

describe('storage down or slow', () => {
  it('answers 503 while the inbox is locked past the store budget, and stores every retried batch afterwards', async () => {
    const capture = captureLogger();
    const metrics = new Metrics();
    const app = buildReceiver({ db: testDb.db, log: capture.log, metrics, config: testConfig({ webhooks: { storeTimeoutMs: 300 } }) });
    const bodies = batches(5);
    const before = await countEvents();

    // Another session holds the table (on the embedded database, the one connection) until released.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = testDb.db.transaction().execute(async (trx) => {
      await sql`lock table webhook_events in exclusive mode`.execute(trx);
      locked();
      await released;
    });
    await isLocked;
    for (const body of bodies) {
      const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
    }
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    release();
    await holder;

    // The sender retries: every batch is stored exactly once (a statement that committed after its 503 makes the retry a duplicate).
    for (const body of bodies) {
      const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
      expect(response.statusCode).toBe(200);
    }
    expect((await countEvents()) - before).toBe(100);
    expect(metrics.counter('webhook.requests.unavailable', { source: 'hubspot', reason: 'timeout' })).toBe(5);
    expect(capture.lines().some((l) => l.msg === 'webhook batch not stored: answering 503 so the sender retries')).toBe(true);
  });

  it('answers 503 when the database is gone, and stays healthy', async () => {
    const handle = await openDatabase(testDatabaseConfig(testDb.url));
    const capture = captureLogger();
    const app = buildReceiver({ db: handle.db, log: capture.log, metrics: new Metrics(), config: testConfig({ webhooks: { storeTimeoutMs: 2000 } }) });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await handle.close();
    const [body] = batches(1);
    const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body!), payload: body });
    expect(response.statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it.skipIf(!serverUrl)('answers 503 while Postgres is unreachable and stores the retries once it is back', async () => {
    const proxy = await tcpProxy(new URL(testDb.url!));
    const url = new URL(testDb.url!);
    url.port = String(proxy.port);
    url.hostname = '127.0.0.1';
    // The daemon's own pool: a connection dropped under a checked-out client must not crash the process.
    const handle = await openDatabase({ ...testDatabaseConfig(url.toString()), poolSize: 4 });
    try {
      const app = buildReceiver({ db: handle.db, log: captureLogger().log, metrics: new Metrics(), config: testConfig({ webhooks: { storeTimeoutMs: 2000 } }) });
      const bodies = batches(4);
      const before = await countEvents();
      const first = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, bodies[0]!), payload: bodies[0] });
      expect(first.statusCode).toBe(200);

      proxy.stop();
      for (const body of bodies.slice(1)) {
        const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
        expect(response.statusCode).toBe(503);
      }
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
      expect((await countEvents()) - before).toBe(20);

      proxy.start();
      for (const body of bodies.slice(1)) {
        const response = await app.inject({ method: 'POST', url: '/webhooks/hubspot', headers: v1Headers(SECRET_A, body), payload: body });
        expect(response.statusCode).toBe(200);
      }
      expect((await countEvents()) - before).toBe(80);
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await handle.close();
      await proxy.close();
    }
  });
});

/** A TCP proxy to the database that the test can cut (every connection reset, new ones refused) and restore. */
async function tcpProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let up = true;
  const server = net.createServer((client) => {
    if (!up) return client.destroy();
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop() {
      up = false;
      for (const socket of sockets) socket.destroy();
    },
    start() {
      up = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
