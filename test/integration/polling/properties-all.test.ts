import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LIST_URL_LENGTH } from '../../../src/hubspot/properties.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { storeHubSpotEvents } from '../webhooks/helpers.ts';
import { processWebhookBatch } from '../../../src/webhooks/processor.ts';
import { jobProperties } from '../../../src/webhooks/service.ts';
import { recordServed, type Served } from '../../helpers/served.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { liveTruth, mirrorRows, PORTAL, poller, pollingConfig, type Poller } from './harness.ts';

const testDb = useTestDb();
let sandbox: Sandbox;
let p: Poller;
/** Every CRM request the daemon sent to the stand-in: its path and the status it got. */
const requests: Served[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0.01, hubspot: { customProperties: { contacts: 500 } }, plugins: [recordServed(requests, '/crm/')] });
  p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'everything', properties: 'all', lookbackSeconds: 0 }]));
});

afterAll(async () => {
  p?.accounts.close();
  await sandbox?.close();
});

/** Ids whose mirror row lacks a property value HubSpot has, or has another one. */
async function mismatches(ids?: readonly string[]): Promise<string[]> {
  const rows = await mirrorRows(testDb);
  const bad: string[] = [];
  for (const truth of liveTruth(sandbox)) {
    if (ids && !ids.includes(truth.id)) continue;
    const row = rows.get(truth.id);
    if (!row || Object.entries(truth.properties).some(([name, value]) => row.properties[name] !== value)) bad.push(truth.id);
  }
  return bad;
}

describe('properties: all on a portal with 600+ contact properties', () => {
  it('backfills and polls every property without a URL the stand-in refuses', async () => {
    const names = sandbox.hubspot.propertyNames('contacts');
    expect(names.length).toBeGreaterThan(600);
    // Records created with every property set, and changed since (as most are: a value first seen then is not a ledger change).
    const seeded = sandbox.hubspot.seed({ objectType: 'contacts', count: 101, allProperties: true, at: Date.now() - 120_000 });
    for (const id of seeded) sandbox.hubspot.update('contacts', id, { firstname: 'Later' }, { at: Date.now() - 60_000 });
    const first = await runJob(p.deps, p.job('everything'), 'poll');
    expect(first.status).toBe('ok');
    expect(await mismatches()).toEqual([]);
    const row = (await mirrorRows(testDb)).values().next().value!;
    expect(Object.values(row.properties).filter((v) => v !== null).length).toBeGreaterThan(550);

    // Changes to custom properties reach the mirror through the incremental search, every name in its body.
    const changed = liveTruth(sandbox).slice(0, 10).map((o) => o.id);
    const custom = names.filter((n) => /_\d{3}$/.test(n) && !n.includes('date'));
    for (const [i, id] of changed.entries()) sandbox.hubspot.update('contacts', id, { [custom[i]!]: `changed ${i}`, [custom[i + 100]!]: `also ${i}` });
    const second = await runJob(p.deps, p.job('everything'), 'poll');
    expect(second.status).toBe('ok');
    expect(await mismatches()).toEqual([]);

    expect(requests.filter((r) => r.status === 414)).toEqual([]);
    expect(Math.max(...requests.map((r) => `${sandbox.baseUrl}${r.path}`.length))).toBeLessThanOrEqual(MAX_LIST_URL_LENGTH);
    // The property list was read once, and every list page was read by id with a POST batch read.
    expect(requests.filter((r) => r.path.includes('/crm/v3/properties/contacts'))).toHaveLength(1);
    expect(requests.filter((r) => r.path.includes('/batch/read')).length).toBe(requests.filter((r) => r.method === 'GET' && r.path.includes('/crm/v3/objects/contacts?')).length);
  });

  it('reads an archived list page too long for a URL by id as archived records', async () => {
    const [id] = sandbox.hubspot.seed({ objectType: 'contacts', count: 1, allProperties: true });
    sandbox.hubspot.archive('contacts', id!);
    const names = sandbox.hubspot.propertyNames('contacts');
    const page = await p.accounts.get(PORTAL)!.listPage('contacts', { limit: 100, archived: true, properties: names }, 'backfill');
    expect(page.ok && page.value.results.map((o) => [o.id, o.archived])).toEqual([[id, true]]);
    expect(requests.filter((r) => r.status === 414)).toEqual([]);
  });

  it('hydrates webhook creations with every property', async () => {
    const [id] = sandbox.hubspot.seed({ objectType: 'contacts', count: 1, allProperties: true });
    const event = { eventId: 7001, subscriptionId: 1, portalId: PORTAL, occurredAt: Date.now(), subscriptionType: 'contact.creation', attemptNumber: 0, objectId: Number(id) };
    await storeHubSpotEvents(testDb.db, [event], new Date());
    const result = await processWebhookBatch({
      db: testDb.db, log: p.deps.log, metrics: new Metrics(), reader: p.accounts.reader, properties: jobProperties(p.config),
      config: { processBatchSize: 10, leaseSeconds: 30, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 100 },
    });
    expect(result).toMatchObject({ processed: 1, hydrated: 1 });
    expect(await mismatches([id!])).toEqual([]);
  });

  it('reads a property created since the list was read once an event names it', async () => {
    const [id] = liveTruth(sandbox).map((o) => o.id);
    sandbox.hubspot.store.properties(PORTAL).create(sandbox.hubspot.type('contacts'), { name: 'created_after_the_list_was_read' });
    sandbox.hubspot.update('contacts', id!, { created_after_the_list_was_read: 'fresh value' });
    // The event's property is not in the list hubsync holds: the list is re-read (at most once a scaled minute).
    const event = { eventId: 7002, subscriptionId: 2, portalId: PORTAL, occurredAt: Date.now(), subscriptionType: 'contact.propertyChange', attemptNumber: 0, objectId: Number(id), propertyName: 'created_after_the_list_was_read', propertyValue: 'fresh value' };
    await storeHubSpotEvents(testDb.db, [event], new Date());
    await processWebhookBatch({
      db: testDb.db, log: p.deps.log, metrics: new Metrics(), reader: p.accounts.reader,
      config: { processBatchSize: 10, leaseSeconds: 30, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 100 },
    });
    await new Promise((r) => setTimeout(r, 700));
    const lists = () => requests.filter((r) => r.path.includes('/crm/v3/properties/contacts')).length;
    const before = lists();
    expect((await runJob(p.deps, p.job('everything'), 'poll')).status).toBe('ok');
    expect(lists()).toBe(before + 1);
    expect(await mismatches()).toEqual([]);
  });
});
