import { Client } from '@hubspot/api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';

const TOKEN = 'pat-props-1';
let sandbox: Sandbox;
let client: Client;

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.05,
    hubspot: { accounts: [{ portalId: 202, accessToken: TOKEN, tier: 'increase' }], customProperties: { contacts: 500 } },
  });
  client = new Client({ accessToken: TOKEN, basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
});

afterAll(async () => {
  await sandbox.close();
});

const get = (path: string) => fetch(`${sandbox.baseUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

describe('the stand-in\u2019s properties API', () => {
  it('lists a realistic portal: hundreds of properties, custom ones with long names, calculated and read-only ones', async () => {
    const { results } = await client.crm.properties.coreApi.getAll('contacts');
    expect(results.length).toBeGreaterThan(600);
    expect(new Set(results.map((p) => p.name)).size).toBe(results.length);
    const custom = results.filter((p) => p.hubspotDefined !== true);
    expect(custom.length).toBe(500);
    expect(Math.max(...custom.map((p) => p.name.length))).toBeGreaterThan(60);
    expect(results.some((p) => p.calculated && p.calculationFormula)).toBe(true);
    expect(results.find((p) => p.name === 'hs_object_id')?.modificationMetadata?.readOnlyValue).toBe(true);
    expect(results.find((p) => p.name === 'lifecyclestage')?.options.map((o) => o.value)).toContain('customer');
    // Another type has its own, fewer; an unknown type is a 400.
    const deals = await client.crm.properties.coreApi.getAll('deals');
    expect(deals.results.map((p) => p.name)).toContain('dealstage');
    expect(deals.results.length).toBeLessThan(results.length);
    expect((await get('/crm/v3/properties/nosuchtype')).status).toBe(400);
    expect(sandbox.hubspot.propertyNames('contacts', 202)).toEqual(results.map((p) => p.name));
  });

  it('creates a property, reads it by name, refuses a second of the same name', async () => {
    const created = await client.crm.properties.coreApi.create('companies', { name: 'loyalty_tier', label: 'Loyalty tier', type: 'string' as never, fieldType: 'text' as never, groupName: 'companyinformation' });
    expect(created.name).toBe('loyalty_tier');
    expect((await client.crm.properties.coreApi.getByName('companies', 'loyalty_tier')).label).toBe('Loyalty tier');
    await expect(client.crm.properties.coreApi.create('companies', { name: 'loyalty_tier', label: 'x', type: 'string' as never, fieldType: 'text' as never, groupName: 'companyinformation' })).rejects.toMatchObject({ code: 409 });
    await expect(client.crm.properties.coreApi.getByName('companies', 'no_such_property')).rejects.toMatchObject({ code: 404 });
  });

  it('answers reads with the named properties it has, ignoring unknown names', async () => {
    const [id] = sandbox.hubspot.seed({ portalId: 202, objectType: 'contacts', count: 1, properties: () => ({ email: 'p@example.com' }) });
    const one = await client.crm.objects.basicApi.getById('contacts', id!, ['email', 'firstname', 'no_such_property']);
    expect(one.properties).toMatchObject({ email: 'p@example.com', firstname: null });
    expect(one.properties).not.toHaveProperty('no_such_property');
  });

  it('refuses a URL over its length limit with 414, so every property in a list page\u2019s query string cannot work', async () => {
    const names = sandbox.hubspot.propertyNames('contacts', 202);
    await expect(client.crm.objects.basicApi.getPage('contacts', 10, undefined, names)).rejects.toMatchObject({ code: 414 });
    const within = `/crm/v3/objects/contacts?limit=1&properties=${'x'.repeat(15_900)}`;
    expect(within.length).toBeLessThanOrEqual(16_000);
    expect((await get(within)).status).toBe(200);
    expect((await get(`/crm/v3/objects/contacts?limit=1&properties=${'x'.repeat(16_000)}`)).status).toBe(414);
    // The same names in a POST body are fine.
    const search = await client.crm.objects.searchApi.doSearch('contacts', { filterGroups: [], properties: names, limit: 1 } as never);
    expect(Object.keys(search.results[0]?.properties ?? {}).length).toBe(names.length);
  });

  it('seeds every writable property when asked', async () => {
    const [id] = sandbox.hubspot.seed({ portalId: 202, objectType: 'contacts', count: 1, allProperties: true });
    const read = await client.crm.objects.batchApi.read('contacts', { inputs: [{ id: id! }], properties: sandbox.hubspot.propertyNames('contacts', 202), propertiesWithHistory: [] });
    const values = Object.values(read.results[0]?.properties ?? {}).filter((v) => v !== null);
    expect(values.length).toBeGreaterThan(550);
  });
});
