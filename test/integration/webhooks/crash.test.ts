import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { finished, startCli, waitForOutput } from '../../helpers/cli.ts';
import { createTestDb, serverUrl, type TestDb } from '../../helpers/db.ts';
import { hubspotEvent, storeHubSpotEvents, waitFor } from './helpers.ts';

const EVENTS = 20_000;
const CONTACTS = 300;

/** A worker process as production runs it (`hubsync run --role worker`), once it runs; `stop` signals it and waits for its exit. */
async function startWorker(configFile: string): Promise<{ stop(signal: NodeJS.Signals): Promise<void> }> {
  const child = startCli(['run', '--role', 'worker', '--config', configFile]);
  const exited = finished(child);
  await waitForOutput(child, /"msg":"hubsync running"/);
  return {
    async stop(signal) {
      child.kill(signal);
      await exited;
    },
  };
}

// Processes on one shared Postgres; the embedded database is one process's at a time.
describe.skipIf(!serverUrl)('webhook workers killed mid-drain (a shared Postgres)', () => {
  let test: TestDb;
  beforeAll(async () => {
    test = await createTestDb();
  });
  afterAll(() => test?.close());

  it('leave every event to the next worker: all applied and out of the queue, none given up on, the mirror at the newest values', async () => {
    // Property changes over a few hundred contacts, each a new value in occurrence order.
    const events = Array.from({ length: EVENTS }, (_, i) =>
      hubspotEvent({ subscriptionType: 'contact.propertyChange', objectId: 1 + (i % CONTACTS), propertyName: 'email', propertyValue: `v${i}@example.com`, occurredAt: 1_790_000_000_000 + i }),
    );
    for (let i = 0; i < EVENTS; i += 100) await storeHubSpotEvents(test.db, events.slice(i, i + 100), new Date());
    // Made here, not at collection: a skipped suite runs no afterAll to remove it.
    const dir = mkdtempSync(path.join(tmpdir(), 'hubsync-webhook-crash-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const configFile = path.join(dir, 'hubsync.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        database: { url: test.url, ssl: 'disable' },
        webhooks: { processBatchSize: 200, leaseSeconds: 2 },
        metrics: { intervalSeconds: 3600 },
        log: { level: 'info', pretty: 'never' },
      }),
    );
    const queued = async () => (await sql<{ n: number }>`select count(*)::int as n from webhook_pending`.execute(test.db)).rows[0]!.n;

    // Killed (no shutdown, a batch in flight) once it has processed some, twice; then one that finishes.
    for (const processed of [2_000, 8_000]) {
      const worker = await startWorker(configFile);
      await waitFor(async () => EVENTS - (await queued()) >= processed, 60_000);
      await worker.stop('SIGKILL');
      expect(await queued()).toBeGreaterThan(0);
    }
    const last = await startWorker(configFile);
    try {
      await waitFor(async () => (await queued()) === 0, 120_000);
    } finally {
      await last.stop('SIGTERM');
    }

    const { rows } = await sql<{ processed: number; failed: number; most: number }>`
      select count(processed_at)::int as processed, count(failed_at)::int as failed, max(attempts)::int as most from webhook_events`.execute(test.db);
    expect(rows[0]).toMatchObject({ processed: EVENTS, failed: 0 });
    // At most the attempts the killed batches used up, plus the one that applied it.
    expect(rows[0]!.most).toBeLessThanOrEqual(3);
    const mirror = await test.db.selectFrom('hubspot_objects').select(['object_id', 'properties']).execute();
    expect(mirror).toHaveLength(CONTACTS);
    // Events are in occurrence order: the last one for a contact holds its newest value.
    const newest = new Map(events.map((e) => [String(e.objectId), e.propertyValue]));
    expect(Object.fromEntries(mirror.map((row) => [row.object_id, row.properties.email]))).toEqual(Object.fromEntries(newest));
  }, 240_000);
});
