import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../../src/config/schema.ts';
import { createHubSpotAccounts, type HubSpotAccounts } from '../../../src/hubspot/client.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { processWebhookBatch } from '../../../src/webhooks/processor.ts';
import { buildReceiver } from '../../../src/webhooks/receiver.ts';
import { jobProperties } from '../../../src/webhooks/service.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, PORTAL, SECRET_A } from './helpers.ts';

/** Each job names its type another way HubSpot does; the mirror must key all of them as the configuration does. */
const JOBS: [name: string, objectType: string, props: Record<string, string>][] = [
  ['calls', 'calls', { hs_call_title: 'Intro call', hs_timestamp: '2026-12-01T10:00:00.000Z' }],
  ['notes', 'note', { hs_note_body: 'Notiz über Ärger', hs_timestamp: '2026-12-01T10:00:00.000Z' }],
  ['tasks', '0-27', { hs_task_subject: 'Follow up', hs_task_status: 'NOT_STARTED' }],
  ['meetings', 'MEETINGS', { hs_meeting_title: 'Kick-off' }],
  ['emails', 'email', { hs_email_subject: 'Hello 👋' }],
  ['products', 'product', { name: 'Widget', price: '10' }],
  ['line-items', 'line_items', { name: 'Widget × 3', quantity: '3' }],
  ['quotes', '0-14', { hs_title: 'Q-1', hs_status: 'DRAFT' }],
  ['projects', '2-3465', { name: 'Apollo', status: 'active' }],
];

const testDb = useTestDb();
let sandbox: Sandbox;
let receiver: ReturnType<typeof buildReceiver>;
let accounts: HubSpotAccounts;
let config: Config;
const { log } = captureLogger();

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0.05 });
  config = configSchema.parse({
    http: { port: 0, host: '127.0.0.1' },
    hubspot: { baseUrl: sandbox.baseUrl, apps: [{ appId: 1001, clientSecret: SECRET_A }], accounts: [{ portalId: PORTAL, accessToken: `pat-sandbox-${PORTAL}` }] },
    jobs: JOBS.map(([name, objectType]) => ({ name, portalId: PORTAL, objectType, lookbackSeconds: 0 })),
  });
  receiver = buildReceiver({ db: testDb.db, log, metrics: new Metrics(), config });
  await receiver.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
  // The generic family for every type (no objectTypeId), and the classic one for products and line items.
  sandbox.hubspot.webhooks.addApp({
    appId: 1001, clientSecret: SECRET_A, targetUrl: `${base}/webhooks/hubspot`,
    subscriptions: [
      { subscriptionType: 'object.creation' },
      { subscriptionType: 'object.deletion' },
      { subscriptionType: 'object.propertyChange', propertyName: 'hs_timestamp' },
      { subscriptionType: 'product.propertyChange', propertyName: 'price' },
      { subscriptionType: 'line_item.creation' },
    ],
  });
  accounts = createHubSpotAccounts(config.hubspot, { log, timeScale: 0.05 });
});

afterAll(async () => {
  accounts?.close();
  await sandbox?.close();
  await receiver?.close();
});

async function drain(): Promise<void> {
  await sandbox.idle();
  const deps = { db: testDb.db, log, metrics: new Metrics(), reader: accounts.reader, properties: jobProperties(config), config: config.webhooks };
  while ((await processWebhookBatch(deps)).claimed > 0);
}

async function mirrored(): Promise<Map<string, Map<string, { archived: boolean; properties: Record<string, string | null> }>>> {
  const rows = await testDb.db.selectFrom('hubspot_objects').select(['object_type', 'object_id', 'archived', 'properties']).execute();
  const byType = new Map<string, Map<string, { archived: boolean; properties: Record<string, string | null> }>>();
  for (const row of rows) {
    if (!byType.has(row.object_type)) byType.set(row.object_type, new Map());
    byType.get(row.object_type)!.set(row.object_id, { archived: row.archived, properties: row.properties });
  }
  return byType;
}

describe('generic object.* webhooks', () => {
  it('mirror calls, notes, tasks, meetings, emails, products, line items, quotes and a custom object under their jobs\u2019 type keys', async () => {
    const keys = config.jobs.map((job) => job.objectType);
    expect(keys).toEqual(['calls', 'notes', 'tasks', 'meetings', 'emails', 'products', 'line_items', 'quotes', '2-3465']);
    const created = JOBS.map(([, , props], i) => sandbox.hubspot.create(keys[i]!, props));
    sandbox.hubspot.update('products', created[5]!.id, { price: '12' });
    sandbox.hubspot.update('notes', created[1]!.id, { hs_timestamp: '2026-12-02T10:00:00.000Z' });
    sandbox.hubspot.archive('quotes', created[7]!.id);
    await drain();

    const events = await testDb.db.selectFrom('webhook_events').select(['object_type', 'subscription_type', 'processed_at']).execute();
    expect(new Set(events.map((e) => e.object_type))).toEqual(new Set(keys));
    expect(events.every((e) => e.processed_at !== null)).toBe(true);
    let byType = await mirrored();
    expect(new Set(byType.keys())).toEqual(new Set(keys));
    const truth = new Map(sandbox.hubspot.truth(PORTAL)[0]!.objects.map((o) => [`${o.objectType}/${o.id}`, o]));
    for (const [i, key] of keys.entries()) {
      const row = byType.get(key)?.get(created[i]!.id);
      expect(row, key).toBeDefined();
      // Hydrated with every property of the type, whatever the event itself carried.
      const expected = truth.get(`${key === '2-3465' ? 'p_projects' : key}/${created[i]!.id}`)!;
      if (!expected.archived) for (const [name, value] of Object.entries(expected.properties)) expect(row!.properties[name], `${key}.${name}`).toBe(value);
    }
    expect(byType.get('products')!.get(created[5]!.id)!.properties.price).toBe('12');
    expect(byType.get('notes')!.get(created[1]!.id)!.properties.hs_timestamp).toBe('2026-12-02T10:00:00.000Z');
    expect(byType.get('quotes')!.get(created[7]!.id)!.archived).toBe(true);

    // Polling the same jobs finds the same rows: no type is mirrored under a second key.
    for (const job of config.jobs) expect((await runJob({ db: testDb.db, accounts, log, worker: 'w' }, job, 'poll')).status).toBe('ok');
    byType = await mirrored();
    expect(new Set(byType.keys())).toEqual(new Set(keys));
    for (const key of keys) expect(byType.get(key)!.size).toBe(1);
  });
});
