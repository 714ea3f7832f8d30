import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { activePauses, savePause } from '../../../src/hubspot/pause-store.ts';
import { openHubSpotAccounts } from '../../../src/hubspot/accounts.ts';
import { createHubSpotAccounts, type HubSpotAccounts } from '../../../src/hubspot/client.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { createTestDb } from '../../helpers/db.ts';
import { captureLogger, PORTAL, TOKEN } from './harness.ts';

let sandbox: Sandbox;
let accounts: HubSpotAccounts;
const metrics = new Metrics();
let ids: string[];

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0.01 });
  ids = sandbox.hubspot.seed({ objectType: 'contacts', count: 5, at: Date.now() - 1000 });
  const config = configSchema.parse({
    hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: TOKEN }, { portalId: 999, accessToken: 'pat-unknown' }] },
  });
  accounts = createHubSpotAccounts(config.hubspot, { log: captureLogger().log, metrics, timeScale: 0.01 });
});

afterAll(async () => {
  accounts?.close();
  await sandbox?.close();
});

describe('HubSpot client over the sandbox', () => {
  it('reads pages and batches, and reports missing ids', async () => {
    const account = accounts.get(PORTAL)!;
    const page = await account.listPage('contacts', { limit: 3, properties: ['email'] }, 'backfill');
    expect(page.ok && page.value.results.length).toBe(3);
    expect(page.ok && page.value.after).toBeDefined();
    const batch = await accounts.reader.batchRead(PORTAL, 'contacts', [ids[0]!, '987654321'], ['email'], 'hydration');
    expect(batch.results.map((r) => r.id)).toEqual([ids[0]]);
    expect(batch.missing).toEqual(['987654321']);
    const search = await account.search('contacts', { filterGroups: [], sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }], properties: ['email'], limit: 2 }, 'incremental');
    expect(search.ok && search.value.total).toBe(5);
    expect(search.ok && search.value.results.map((r) => r.id)).toEqual(ids.slice(0, 2));
  });

  it('reads the portal\'s custom object schemas', async () => {
    const schemas = await accounts.get(PORTAL)!.customSchemas();
    expect(schemas).toEqual({ ok: true, value: [{ objectTypeId: '2-3465', name: 'projects', fullyQualifiedName: `p${PORTAL}_projects`, singular: 'Project', plural: 'Projects' }] });
  });

  it('turns HTTP failures into values: a 401, a 400', async () => {
    const unknown = await accounts.get(999)!.listPage('contacts', { limit: 1 }, 'backfill');
    expect(unknown).toMatchObject({ ok: false, failure: 'client', status: 401 });
    const bad = await accounts.get(PORTAL)!.search('nosuchtype', { filterGroups: [], sorts: [], limit: 1 }, 'incremental');
    expect(bad).toMatchObject({ ok: false, failure: 'client', status: 400 });
    const props = await accounts.get(PORTAL)!.propertyNames('nosuchtype');
    expect(props).toMatchObject({ ok: false, failure: 'client', status: 400 });
    await expect(accounts.reader.batchRead(12345, 'contacts', ['1'], 'all', 'hydration')).rejects.toThrow(/no hubspot.accounts entry/);
  });

  it('counts calls and 429s per portal and exposes the remaining window', async () => {
    sandbox.hubspot.failNext({ status: 429, count: 1, policy: 'TEN_SECONDLY_ROLLING' });
    const r = await accounts.get(PORTAL)!.listPage('contacts', { limit: 1 }, 'backfill');
    expect(r.ok).toBe(true);
    const snap = metrics.snapshot();
    expect(snap.counters[`hubspot.api.429s{policy=TEN_SECONDLY_ROLLING,portalId=${PORTAL}}`]).toBe(1);
    expect(snap.counters[`hubspot.api.calls{kind=api,portalId=${PORTAL}}`]).toBeGreaterThanOrEqual(3);
    expect(snap.gauges[`hubspot.budget.window_remaining{portalId=${PORTAL}}`]).toBeGreaterThan(0);
    expect(snap.gauges[`hubspot.budget.daily_remaining{portalId=${PORTAL}}`]).toBeGreaterThan(0);
  });
});

describe('daily pauses across restarts', () => {
  it('restores a stored daily pause and stores new ones', async () => {
    const testDb = await createTestDb();
    try {
      const config = configSchema.parse({ hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: TOKEN }] } });
      await savePause(testDb.db, PORTAL, 'DAILY', new Date(Date.now() + 60_000), new Date());
      const { log, lines } = captureLogger();
      const restored = await openHubSpotAccounts(testDb.db, config.hubspot, { log, timeScale: 0.01 });
      expect(restored.get(PORTAL)?.budget.pausedUntil()).toBeGreaterThan(Date.now());
      expect(lines.some((l) => String(l.msg).includes('paused for portal'))).toBe(true);
      restored.close();
      await testDb.db.deleteFrom('sync_account_pauses').execute();
      const fresh = await openHubSpotAccounts(testDb.db, config.hubspot, { log, timeScale: 0.01 });
      sandbox.hubspot.failNext({ status: 429, count: 1, policy: 'DAILY' });
      const pending = fresh.get(PORTAL)!.listPage('contacts', { limit: 1 }, 'backfill');
      await expect.poll(async () => (await activePauses(testDb.db, new Date())).length).toBe(1);
      fresh.close();
      expect(await pending).toMatchObject({ ok: false, failure: 'aborted' });
    } finally {
      await testDb.close();
    }
  });
});
