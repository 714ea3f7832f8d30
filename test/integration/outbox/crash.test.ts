import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../../src/db/index.ts';
import { migrateToLatest } from '../../../src/db/migrate.ts';
import { insertAppEvents } from '../../../src/outbox/store.ts';
import type { RunningParagonSandbox } from '../../../src/sandbox/paragon/index.ts';
import { createTestDb, seededEmbeddedDir, serverUrl, testDatabaseConfig, type TestDb } from '../../helpers/db.ts';
import { tempDir } from '../../helpers/temp.ts';
import { PROJECT_ID, startParagon, testKeys, waitFor } from './harness.ts';

const CHILD = fileURLToPath(new URL('./delivery-child.ts', import.meta.url));
const CONTACTS = 8;
const PER_CONTACT = 5;

let sandbox: RunningParagonSandbox;
let serverDb: TestDb | undefined;
/** Where the embedded database lives (PGlite runs): the workers and the test take turns opening it. */
const embeddedDir = serverUrl ? undefined : seededEmbeddedDir(tempDir('hubsync-outbox-crash'));

beforeAll(async () => {
  sandbox = await startParagon({ faults: { latencyMs: 150 } });
  if (serverUrl) serverDb = await createTestDb();
});
afterAll(async () => {
  await sandbox?.close();
  await serverDb?.close();
});

/** The embedded database is single-process: the test opens it only while no worker runs. */
async function withDb<T>(work: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  if (serverDb) return work(serverDb);
  const handle = await openDatabase({ ...testDatabaseConfig(), embeddedDir: embeddedDir! });
  try {
    return await work(handle);
  } finally {
    await handle.close();
  }
}

function startWorker(): Promise<ChildProcess> {
  const config = {
    database: serverDb ? { url: serverDb.url, ssl: 'disable' } : { embeddedDir },
    paragon: { projectId: PROJECT_ID, signingKey: testKeys().privateKeyPem, baseUrl: sandbox.baseUrl },
    outbox: { pollIntervalMs: 20, backoffBaseMs: 20, backoffMaxMs: 200, requestTimeoutMs: 1000, batchSize: 8, concurrency: 8, leaseMs: 1500 },
  };
  const child = spawn(process.execPath, [CHILD], { env: { ...process.env, OUTBOX_CHILD: JSON.stringify({ config }) }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('started')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('a worker killed mid-delivery', () => {
  it('loses nothing: the restarted worker redelivers what was in flight, in order per contact', async () => {
    await withDb(async ({ db }) => {
      if (!serverDb) await migrateToLatest(db);
      const events = [];
      for (let n = 0; n < PER_CONTACT; n++) {
        for (let c = 0; c < CONTACTS; c++) events.push({ userId: `user-${c}`, name: 'Contact Updated', payload: { contact: c, n }, idempotencyKey: `${c}:${n}`, orderingKey: `c${c}` });
      }
      expect(await insertAppEvents(db, events)).toBe(CONTACTS * PER_CONTACT);
    });

    const first = await startWorker();
    await waitFor(() => sandbox.paragon.appEvents.length >= CONTACTS + 2 && sandbox.paragon.inFlight > 0, 'deliveries done and in flight');
    first.kill('SIGKILL');
    await exited(first);
    // The requests in flight still land (Paragon got them), but the worker never marked them sent.
    await waitFor(() => sandbox.paragon.inFlight === 0, 'in-flight requests answered');
    const beforeRestart = sandbox.paragon.appEvents.length;
    expect(beforeRestart).toBeLessThan(CONTACTS * PER_CONTACT);

    const second = await startWorker();
    const keys = () => new Set(sandbox.paragon.appEvents.map((e) => `${e.payload['contact']}:${e.payload['n']}`));
    await waitFor(() => keys().size === CONTACTS * PER_CONTACT, 'every event delivered after the restart', 60_000);
    second.kill('SIGTERM');
    await exited(second);
    // At-least-once, observed: what was in flight at the kill arrived twice.
    expect(sandbox.paragon.appEvents.length).toBeGreaterThan(CONTACTS * PER_CONTACT);

    // Per contact, first arrivals are in order (a redelivery may repeat an event, never reorder).
    const firstSeen = new Map<number, number[]>();
    const seen = new Set<string>();
    for (const e of sandbox.paragon.appEvents) {
      const key = `${e.payload['contact']}:${e.payload['n']}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const list = firstSeen.get(Number(e.payload['contact'])) ?? [];
      list.push(Number(e.payload['n']));
      firstSeen.set(Number(e.payload['contact']), list);
    }
    for (const ns of firstSeen.values()) expect(ns).toEqual([0, 1, 2, 3, 4]);
    await withDb(async ({ db }) => {
      const rows = await db.selectFrom('app_event_outbox').select(['status']).execute();
      expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
    });
  });
});
