import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookStatus } from '../../../src/webhooks/inbox-store.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { storeWithin } from '../../../src/webhooks/ingest.ts';
import { createReceiverService, webhookServices } from '../../../src/webhooks/service.ts';
import { createTestDb, type TestDb } from '../../helpers/db.ts';
import { captureLogger, hubspotEvent, SECRET_A, testConfig, v1Headers, waitFor } from './helpers.ts';

let testDb: TestDb;

beforeAll(async () => {
  testDb = await createTestDb();
});
afterAll(async () => {
  await testDb?.close();
});

describe('webhook services', () => {
  it('the web and worker services take a batch over HTTP into the mirror', async () => {
    const config = testConfig({ webhooks: { processIntervalMs: 20 } });
    const metrics = new Metrics();
    const services = webhookServices({ config, db: testDb.db, log: captureLogger().log, metrics }, 'all');
    expect(services.map((s) => s.name)).toEqual(['webhook-receiver', 'webhook-processor']);
    for (const service of services) await service.start();
    try {
      const address = (services[0] as ReturnType<typeof createReceiverService>).address()!;
      const body = JSON.stringify([hubspotEvent({ objectId: 777, propertyValue: 'svc@example.com', occurredAt: Date.now() - 1000 })]);
      const response = await fetch(`${address}/webhooks/hubspot`, { method: 'POST', headers: v1Headers(SECRET_A, body), body });
      expect(response.status).toBe(200);
      const row = await waitFor(() => testDb.db.selectFrom('hubspot_objects').select('properties').where('object_id', '=', '777').executeTakeFirst());
      expect(row.properties.email).toBe('svc@example.com');
      expect(metrics.counter('webhook.events.received', { source: 'hubspot' })).toBe(1);
    } finally {
      for (const service of [...services].reverse()) await service.stop();
    }
    expect(await webhookStatus(testDb.db)).toMatchObject({ backlog: 0 });
  });

  it('stop waits for the request in flight, which is stored and acknowledged', async () => {
    let entered!: () => void;
    const inStore = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const config = testConfig();
    const service = createReceiverService({
      db: testDb.db,
      log: captureLogger().log,
      metrics: new Metrics(),
      config,
      // The real store, entered only when the test says so.
      storeBatch: async (batch, at) => {
        entered();
        await released;
        return storeWithin(testDb.db, batch, at, config.webhooks.storeTimeoutMs);
      },
    });
    await service.start();
    const body = JSON.stringify([hubspotEvent({ objectId: 888 })]);
    const inFlight = fetch(`${service.address()!}/webhooks/hubspot`, { method: 'POST', headers: v1Headers(SECRET_A, body), body });
    await inStore;
    let stopped = false;
    const stopping = service.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    expect((await inFlight).status).toBe(200);
    await stopping;
    expect(await testDb.db.selectFrom('webhook_events').select('object_id').where('object_id', '=', '888').executeTakeFirst()).toEqual({ object_id: '888' });
  });
});
