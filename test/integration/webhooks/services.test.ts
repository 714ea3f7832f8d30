import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { webhookStatus } from '../../../src/webhooks/inbox-store.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { storeWithin } from '../../../src/webhooks/ingest.ts';
import { createProcessorService, createReceiverService, jobProperties, webhookServices } from '../../../src/webhooks/service.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { switchableDatabase } from '../../helpers/outage.ts';
import { captureLogger, hubspotEvent, SECRET_A, testConfig, v1Headers, waitFor } from './helpers.ts';

const testDb = useTestDb();

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

  it('with the database down, the processor backs off and logs one line when the outage starts and one when it ends', async () => {
    const outage = switchableDatabase(testDb.db);
    const capture = captureLogger();
    const config = testConfig();
    const processor = createProcessorService({
      db: outage.db,
      log: capture.log,
      metrics: new Metrics(),
      config: config.webhooks,
      properties: jobProperties(config),
      intervalMs: 5,
      statusIntervalMs: 5,
      // Its place among the workers is read at start and at each status refresh: the database being down fails neither for good.
      processId: 'host-outage:1:test',
    });
    await processor.start();
    try {
      // Waits of 5, 10, 20 … ms: a dozen failed attempts take a few seconds, not the hundreds a fixed 5 ms would.
      await waitFor(async () => (outage.statements >= 12 ? true : undefined));
      const failing = capture.lines().filter((l) => Number(l.level) >= 40).map((l) => String(l.msg));
      expect(failing).toContain('webhook processing failed; retrying with backoff until it recovers');
      // Each loop (processing, housekeeping) said it once, however often it failed.
      expect(new Set(failing).size).toBe(failing.length);
      expect(failing.every((msg) => msg.endsWith('failed; retrying with backoff until it recovers'))).toBe(true);
      outage.down = false;
      const recovered = await waitFor(async () => capture.lines().find((l) => l.msg === 'webhook processing recovered'));
      expect(recovered.failedAttempts).toBeGreaterThanOrEqual(2);
      expect(recovered.failingForMs).toBeGreaterThan(0);
    } finally {
      await processor.stop();
    }
  });

  it('while draining, a request on an open keep-alive connection is answered 503 with Connection: close, not reset', async () => {
    const config = testConfig();
    const service = createReceiverService({ db: testDb.db, log: captureLogger().log, metrics: new Metrics(), config });
    await service.start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const post = (objectId: number) =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const body = JSON.stringify([hubspotEvent({ objectId })]);
        const request = http.request(`${service.address()!}/webhooks/hubspot`, { method: 'POST', agent, headers: v1Headers(SECRET_A, body) }, (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode!, connection: response.headers.connection }));
        });
        request.on('error', reject);
        request.end(body);
      });
    try {
      expect(await post(901)).toEqual({ status: 200, connection: 'keep-alive' });
      const stopping = service.stop();
      // The same socket, kept alive, after SIGTERM.
      expect(await post(902)).toEqual({ status: 503, connection: 'close' });
      await stopping;
    } finally {
      agent.destroy();
    }
  });
});
