import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics/registry.ts';
import { startSandbox, type Sandbox, type TruthObject } from '../../../src/sandbox/index.ts';
import { createParagonSandbox, generateSigningKeyPair, paragonPlugin, type ParagonSandbox } from '../../../src/sandbox/paragon/index.ts';
import { processWebhookBatch } from '../../../src/webhooks/processor.ts';
import { buildReceiver } from '../../../src/webhooks/receiver.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, PARAGON_SECRET, PORTAL, SECRET_A, SECRET_B, testConfig } from './helpers.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { createHubSpotAccounts, type HubSpotAccounts } from '../../../src/hubspot/client.ts';
import type { HubSpotReader } from '../../../src/hubspot/objects.ts';

const PROPERTIES = ['firstname', 'email', 'lifecyclestage'];
const SUBSCRIPTIONS = [
  { subscriptionType: 'contact.creation' },
  ...PROPERTIES.map((propertyName) => ({ subscriptionType: 'contact.propertyChange', propertyName })),
  { subscriptionType: 'contact.deletion' },
  { subscriptionType: 'contact.restore' },
  { subscriptionType: 'contact.merge' },
  { subscriptionType: 'contact.privacyDeletion' },
  { subscriptionType: 'contact.associationChange' },
  { subscriptionType: 'object.creation', objectTypeId: '0-2' },
  { subscriptionType: 'company.propertyChange', propertyName: 'name' },
];

const testDb = useTestDb();
let sandbox: Sandbox;
let receiver: ReturnType<typeof buildReceiver>;
let accounts: HubSpotAccounts;
let reader: HubSpotReader & { calls: { objectType: string; ids: readonly string[] }[] };
let paragon: ParagonSandbox;
let base: string;
const { log } = captureLogger();
const metrics = new Metrics();

beforeAll(async () => {
  receiver = buildReceiver({ db: testDb.db, log, metrics, config: testConfig() });
  await receiver.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
  paragon = createParagonSandbox({ publicKeyPem: generateSigningKeyPair().publicKeyPem, webhookSecret: PARAGON_SECRET, defaultPortalId: PORTAL, timeScale: 0.05 });
  sandbox = await startSandbox({
    plugins: [paragonPlugin(paragon)],
    timeScale: 0.05,
    hubspot: {
      apps: [{ appId: 1001, clientSecret: SECRET_A, targetUrl: `${base}/webhooks/hubspot`, subscriptions: SUBSCRIPTIONS }],
      workflows: [
        {
          workflowId: 9,
          appId: 1002,
          clientSecret: SECRET_B,
          targetUrl: `${base}/webhooks/hubspot?portalId=${PORTAL}&objectType=contacts`,
          objectType: 'contacts',
          trigger: 'propertyChange',
          propertyName: 'lifecyclestage',
        },
      ],
    },
  });
  // The daemon's own reader: batch reads through the account's rate budget at hydration priority.
  const hubspot = configSchema.parse({ hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: `pat-sandbox-${PORTAL}` }] } }).hubspot;
  accounts = createHubSpotAccounts(hubspot, { log, timeScale: 0.05 });
  const calls: { objectType: string; ids: readonly string[] }[] = [];
  reader = {
    calls,
    batchRead: (portalId, objectType, ids, properties, priority) => {
      calls.push({ objectType, ids });
      return accounts.reader.batchRead(portalId, objectType, ids, properties, priority);
    },
  };
});

afterAll(async () => {
  accounts?.close();
  await sandbox?.close();
  await receiver?.close();
});

const processorDeps = () => ({
  db: testDb.db,
  log,
  metrics,
  reader,
  config: testConfig().webhooks,
  properties: (_portal: number, type: string) => (type === 'contacts' ? [...PROPERTIES, 'lastmodifieddate', 'createdate', 'hs_merged_object_ids'] : ['name', 'hs_lastmodifieddate']),
});

async function drain(): Promise<void> {
  await sandbox.idle();
  await paragon.idle();
  while ((await processWebhookBatch(processorDeps())).claimed > 0);
}

async function mirror(objectType: string) {
  const rows = await testDb.db.selectFrom('hubspot_objects').selectAll().where('object_type', '=', objectType).execute();
  return new Map(rows.map((row) => [row.object_id, row]));
}

function truth(objectType: string): TruthObject[] {
  return sandbox.hubspot.truth(PORTAL)[0]!.objects.filter((o) => o.objectType === objectType);
}

describe('sandbox → webhooks → receiver → processor → mirror', () => {
  it('mirrors creations, changes, deletions, restores, merges, privacy deletions and workflow posts', async () => {
    const hs = sandbox.hubspot;
    // Distinct HubSpot times: in the same millisecond a delete and a restore would tie (and delete wins a tie).
    let time = Date.now();
    const at = () => ({ at: (time += 5) });
    const a = hs.create('contacts', { firstname: 'Zoë 🚀', email: 'zoe@example.com' }, at());
    const b = hs.create('contacts', { firstname: 'Bob', email: 'bob@example.com' }, at());
    const c = hs.create('contacts', { firstname: 'Carla', email: 'carla@example.com' }, at());
    const d = hs.create('contacts', { firstname: 'Dana', email: 'dana@example.com' }, at());
    const company = hs.create('companies', { name: 'Ångström AB' }, at());
    hs.update('contacts', a.id, { firstname: 'Zoë Ä', lifecyclestage: 'lead' }, at());
    hs.update('contacts', c.id, { lifecyclestage: 'customer' }, at());
    hs.associate('contacts', c.id, 'companies', company.id, at());
    hs.archive('contacts', b.id, at());
    hs.restore('contacts', b.id, at());
    hs.update('contacts', b.id, { email: 'bob@new.example.com' }, at());
    const merged = hs.merge('contacts', a.id, c.id, at());
    if (!merged.ok) throw new Error(merged.message);
    hs.privacyDelete(d.id, at());
    const e = hs.create('contacts', { firstname: 'Eve' }, at());
    hs.archive('contacts', e.id, at());
    await drain();

    const contacts = await mirror('contacts');
    for (const expected of truth('contacts')) {
      const row = contacts.get(expected.id);
      expect(row, `contact ${expected.id}`).toBeDefined();
      if (expected.mergedInto) {
        expect(row!.merged_into).toBe(expected.mergedInto);
        expect(row!.archived).toBe(true);
      } else if (expected.privacyDeleted) {
        expect(row!.privacy_deleted_at).not.toBeNull();
        expect(row!.properties).toEqual({});
      } else {
        expect(row!.archived, `archived of ${expected.id}`).toBe(expected.archived);
        for (const property of PROPERTIES) expect(row!.properties[property] ?? null, `${property} of ${expected.id}`).toBe(expected.properties[property] ?? null);
      }
    }
    const survivor = contacts.get(merged.object.id)!;
    expect(survivor.properties.firstname).toBe('Zoë Ä');
    expect(survivor.first_seen_via).toBe('webhook');
    const companies = await mirror('companies');
    expect(companies.get(company.id)!.properties.name).toBe('Ångström AB');
    // The merge moved the merged-away contact's association to the survivor (both sides).
    expect(await testDb.db.selectFrom('hubspot_associations').selectAll().where('from_object_id', '=', c.id).execute()).toEqual([]);
    const edge = await testDb.db.selectFrom('hubspot_associations').selectAll().where('from_object_id', '=', merged.object.id).executeTakeFirst();
    expect(edge).toMatchObject({ to_object_type: 'companies', to_object_id: company.id, association_type: 'CONTACT_TO_COMPANY', removed: false });
    const back = await testDb.db.selectFrom('hubspot_associations').selectAll().where('from_object_id', '=', company.id).executeTakeFirst();
    expect(back).toMatchObject({ to_object_type: 'contacts', to_object_id: merged.object.id, association_type: 'COMPANY_TO_CONTACT', removed: false });

    // The workflow posts were stored and applied too.
    const workflow = await testDb.db.selectFrom('webhook_events').select(['object_id', 'processed_at']).where('source', '=', 'workflow').execute();
    expect(workflow.map((w) => w.object_id).sort()).toEqual([a.id, c.id].sort());
    expect(workflow.every((w) => w.processed_at !== null)).toBe(true);
    // The ledger credits the workflow path with what it saw (which changes it may date is the ledger's rule).
    const ledger = await testDb.db.selectFrom('change_ledger').select('object_id').where('seen_by_workflow_at', 'is not', null).execute();
    expect(new Set(ledger.map((l) => l.object_id))).toEqual(new Set([a.id, c.id]));

    // Hydration read each object once per batch, at most 100 ids per call.
    expect(reader.calls.every((call) => call.ids.length <= 100 && new Set(call.ids).size === call.ids.length)).toBe(true);
  });

  it('mirrors records pushed by Paragon trigger webhooks in the documented shape (flat records, no version), reading each by id', async () => {
    const subscribe = (type: string, recordType: string, webhookOverride: { url: string; metadata?: Record<string, unknown> }) =>
      paragon.subscriptions.create({ userId: 'user-1', integration: 'hubspot', type, parameters: { recordType }, credentialId: paragon.credentialOf('user-1'), webhookOverride });
    // Portal and type named in the URL, or in the subscription's metadata.
    subscribe('HUBSPOT_RECORD_CREATED', 'companies', { url: `${base}/webhooks/paragon?objectType=companies` });
    subscribe('HUBSPOT_RECORD_UPDATED', 'contacts', { url: `${base}/webhooks/paragon`, metadata: { portalId: PORTAL, objectType: 'contacts' } });
    const company = sandbox.hubspot.create('companies', { name: 'Paragon Ü Corp' });
    const contact = sandbox.hubspot.create('contacts', { firstname: 'Pia' });
    sandbox.hubspot.update('contacts', contact.id, { firstname: 'Pia 🎈' });
    await drain();
    const stored = await testDb.db.selectFrom('webhook_events').select(['object_type', 'object_id', 'processed_at', 'occurred_at', 'payload']).where('source', '=', 'paragon').execute();
    expect(stored.map((e) => [e.object_type, e.object_id]).sort()).toEqual([['companies', company.id], ['contacts', contact.id]].sort());
    expect(stored.every((e) => e.processed_at !== null)).toBe(true);
    // Flat records without a last-modified field: no version to order them by, so they were read from HubSpot.
    expect(stored.every((e) => e.occurred_at === null && !('lastmodifieddate' in (e.payload.payload as object)) && !('hs_lastmodifieddate' in (e.payload.payload as object)))).toBe(true);
    expect(reader.calls.some((c) => c.objectType === 'companies' && c.ids.includes(company.id))).toBe(true);
    expect((await mirror('companies')).get(company.id)!.properties.name).toBe('Paragon Ü Corp');
    expect((await mirror('contacts')).get(contact.id)!.properties.firstname).toBe('Pia 🎈');
    const seen = await testDb.db.selectFrom('change_ledger').select('property').where('object_id', '=', contact.id).where('seen_by_paragon_at', 'is not', null).execute();
    expect(seen.length).toBeGreaterThan(0);
    expect((await testDb.db.selectFrom('webhook_quarantine').selectAll().execute()).filter((q) => q.source === 'paragon')).toEqual([]);
  });

  it("keeps the company a contact's primary label leaves: the label's removal reads the contact's companies again", async () => {
    const hs = sandbox.hubspot;
    const contact = hs.create('contacts', { firstname: 'Primo' });
    const [low, high] = [hs.create('companies', { name: 'Low' }), hs.create('companies', { name: 'High' })];
    hs.associate('contacts', contact.id, 'companies', high.id);
    await drain();
    // A company with a lower id takes the primary label (the stand-in's rule): High stays associated, unlabeled.
    hs.associate('contacts', contact.id, 'companies', low.id);
    const withAssociations = () => ({
      ...processorDeps(),
      reader: { ...reader, readAssociations: accounts.reader.readAssociations!.bind(accounts.reader) },
      associations: (_portal: number, type: string) => (type === 'contacts' ? ['companies'] : []),
    });
    await sandbox.idle();
    while ((await processWebhookBatch(withAssociations())).claimed > 0);
    const edges = await testDb.db.selectFrom('hubspot_associations').select(['to_object_id', 'removed'])
      .where('from_object_type', '=', 'contacts').where('from_object_id', '=', contact.id).where('to_object_type', '=', 'companies').execute();
    expect(edges.filter((e) => !e.removed).map((e) => e.to_object_id).sort()).toEqual([high.id, low.id].sort());
    const primaryRemovals = await testDb.db.selectFrom('webhook_events').select('payload')
      .where('object_id', '=', contact.id).where('subscription_type', '=', 'contact.associationChange').execute();
    expect(primaryRemovals.some((e) => (e.payload as Record<string, unknown>).isPrimaryAssociation === true && (e.payload as Record<string, unknown>).associationRemoved === true)).toBe(true);
  });

  it('converges under dropped-free duplicated and reordered delivery', async () => {
    sandbox.hubspot.setFaults({ duplicateRate: 0.5, reorder: true });
    const ids = Array.from({ length: 120 }, (_, i) => sandbox.hubspot.create('contacts', { firstname: `N${i}`, email: `n${i}@example.com` }).id);
    for (const [i, id] of ids.entries()) if (i % 3 === 0) sandbox.hubspot.update('contacts', id, { firstname: `N${i} changed` });
    await drain();
    sandbox.hubspot.setFaults({ duplicateRate: 0, reorder: false });
    const contacts = await mirror('contacts');
    const expected = new Map(truth('contacts').map((t) => [t.id, t]));
    for (const id of ids) expect(contacts.get(id)!.properties.firstname).toBe(expected.get(id)!.properties.firstname);
    const status = await testDb.db.selectFrom('webhook_events').select((eb) => eb.fn.sum<number>('deliveries').as('deliveries')).executeTakeFirst();
    expect(Number(status!.deliveries)).toBeGreaterThan(await testDb.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst().then((r) => Number(r!.n)));
    expect(reader.calls.some((call) => call.ids.length === 100)).toBe(true);
  });
});
