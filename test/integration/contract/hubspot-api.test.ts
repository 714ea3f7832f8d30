/**
 * The stand-in against `@hubspot/api-client`'s own models, for every HubSpot endpoint hubsync calls:
 * each request goes through the real client, and each raw response must be what the client's
 * generated model says (known fields only, required ones present, types and enums right).
 */
import { Client } from '@hubspot/api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { configSchema } from '../../../src/config/schema.ts';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { enumValues, modelArea, modelProblems } from './models.ts';
import { recordServed, type Served } from '../../helpers/served.ts';

const TOKEN = 'pat-contract-1';
const PORTAL = 303;
const objects = modelArea('crm/objects');
const properties = modelArea('crm/properties');
const schemas = modelArea('crm/schemas');
const associations = modelArea('crm/associations/v4');

let sandbox: Sandbox;
let client: Client;
/** Every exchange with the stand-in: what was sent and the raw answer. */
const exchanges: { method: string; url: string; status: number; request: unknown; response: unknown; headers: Headers }[] = [];
const realFetch = globalThis.fetch;
/** Every request the stand-in answered: how hubsync's own client (its keep-alive agent, not fetch) is seen. */
const served: Served[] = [];

beforeAll(async () => {
  // The client sends searches back to back without retries: at this time scale five searches a second are
  // five in 10 ms, which a warm process reaches (the Search limit has its own tests in sandbox/limits).
  sandbox = await startSandbox({
    timeScale: 0.01,
    hubspot: { accounts: [{ portalId: PORTAL, accessToken: TOKEN, tier: 'enterprise', limits: { searchPerSecond: 1000 } }], customProperties: { contacts: 30 } },
    plugins: [recordServed(served)],
  });
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const response = await realFetch(input, init);
    if (url.startsWith(sandbox.baseUrl)) {
      const text = await response.clone().text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: kept as text.
      }
      exchanges.push({ method: init?.method ?? 'GET', url, status: response.status, request: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined, response: body, headers: response.headers });
    }
    return response;
  }) as typeof fetch;
  client = new Client({ accessToken: TOKEN, basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
  const at = Date.parse('2026-11-22T08:00:00.000Z');
  const ids = sandbox.hubspot.seed({ portalId: PORTAL, objectType: 'contacts', count: 12, at, allProperties: true });
  const [company] = sandbox.hubspot.seed({ portalId: PORTAL, objectType: 'companies', count: 1, at });
  for (const id of ids.slice(0, 3)) sandbox.hubspot.associate('contacts', id, 'companies', company!, { portalId: PORTAL });
  sandbox.hubspot.archive('contacts', ids[11]!, { portalId: PORTAL });
  const merged = sandbox.hubspot.merge('contacts', ids[9]!, ids[10]!, { portalId: PORTAL });
  if (!merged.ok) throw new Error(merged.message);
});

afterAll(async () => {
  globalThis.fetch = realFetch;
  await sandbox?.close();
});

/** The raw answer of the last exchange with a URL containing `part`. */
function last(part: string) {
  const found = exchanges.filter((e) => e.url.includes(part)).at(-1);
  if (!found) throw new Error(`no exchange with ${part}`);
  return found;
}

describe('the model check', () => {
  it('finds unknown fields, missing required ones, wrong types, bad dates and values outside an enum', () => {
    const bad = { status: 'DONE', results: [{ id: 1, properties: { a: 2 }, createdAt: 'yesterday', extra: true }], startedAt: '2026-01-01T00:00:00.000Z' };
    expect(modelProblems(objects, bad, 'BatchResponseSimplePublicObject')).toEqual([
      '$.completedAt: required by BatchResponseSimplePublicObject, missing',
      expect.stringMatching(/^\$\.status: "DONE" is not one of BatchResponseSimplePublicObjectStatusEnum/),
      '$.results[0].updatedAt: required by SimplePublicObject, missing',
      '$.results[0].id: 1 is not a string',
      '$.results[0].properties.a: 2 is not a string',
      '$.results[0].createdAt: "yesterday" is not an ISO date-time',
      '$.results[0].extra: SimplePublicObject has no such field',
    ]);
  });
});

describe('the stand-in answers as @hubspot/api-client\u2019s models say', () => {
  it('search: CollectionResponseWithTotalSimplePublicObjectForwardPaging, for every filter operator the client knows', async () => {
    const page = await client.crm.objects.searchApi.doSearch('contacts', {
      filterGroups: [{ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE' as never, value: '0' }] }],
      sorts: ['hs_object_id'], properties: ['email', 'firstname'], limit: 5, after: '0',
    });
    expect(page.results).toHaveLength(5);
    expect(modelProblems(objects, last('/search').response, 'CollectionResponseWithTotalSimplePublicObjectForwardPaging')).toEqual([]);
    // hubsync sends sorts as objects (HubSpot takes both; the model types them as strings).
    await client.crm.objects.searchApi.doSearch('contacts', { filterGroups: [], sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }] as never, properties: ['email'], limit: 1, after: '0' });
    expect(last('/search').status).toBe(200);
    for (const operator of enumValues(objects, 'FilterOperatorEnum')) {
      const filter = operator === 'BETWEEN' ? { value: '0', highValue: '9999999999999' } : operator === 'IN' || operator === 'NOT_IN' ? { values: ['a@example.com'] } : operator.includes('PROPERTY') ? {} : { value: 'x' };
      await client.crm.objects.searchApi.doSearch('contacts', { filterGroups: [{ filters: [{ propertyName: 'email', operator: operator as never, ...filter }] }], sorts: [], properties: [], limit: 1, after: '0' });
      expect(last('/search').status, operator).toBe(200);
    }
  });

  it('list pages, live and archived: CollectionResponseSimplePublicObjectWithAssociationsForwardPaging', async () => {
    const live = await client.crm.objects.basicApi.getPage('contacts', 4, undefined, ['email', 'firstname'], undefined, ['companies']);
    expect(live.paging?.next?.after).toBeDefined();
    expect(modelProblems(objects, last('/crm/v3/objects/contacts?').response, 'CollectionResponseSimplePublicObjectWithAssociationsForwardPaging')).toEqual([]);
    const archived = await client.crm.objects.basicApi.getPage('contacts', 10, undefined, ['email'], undefined, undefined, true);
    expect(archived.results.map((o) => o.archived)).toEqual([true]);
    expect(archived.results[0]?.archivedAt).toBeInstanceOf(Date);
    expect(modelProblems(objects, last('archived=true').response, 'CollectionResponseSimplePublicObjectWithAssociationsForwardPaging')).toEqual([]);
  });

  it('batch read: BatchResponseSimplePublicObject, and with missing ids a 207 BatchResponseSimplePublicObjectWithErrors', async () => {
    const ids = sandbox.hubspot.truth(PORTAL)[0]!.objects.filter((o) => o.objectType === 'contacts' && !o.archived && !o.mergedInto).map((o) => o.id);
    await client.crm.objects.batchApi.read('contacts', { inputs: ids.slice(0, 3).map((id) => ({ id })), properties: ['email'], propertiesWithHistory: ['email'] });
    expect(last('/batch/read').status).toBe(200);
    expect(modelProblems(objects, last('/batch/read').response, 'BatchResponseSimplePublicObject')).toEqual([]);
    await client.crm.objects.batchApi.read('contacts', { inputs: [{ id: ids[0]! }, { id: '999999' }], properties: ['email'], propertiesWithHistory: [] });
    expect(last('/batch/read').status).toBe(207);
    expect(modelProblems(objects, last('/batch/read').response, 'BatchResponseSimplePublicObjectWithErrors')).toEqual([]);
  });

  it('properties: CollectionResponsePropertyNoPaging', async () => {
    const all = await client.crm.properties.coreApi.getAll('contacts');
    expect(all.results.length).toBeGreaterThan(100);
    expect(modelProblems(properties, last('/crm/v3/properties/contacts').response, 'CollectionResponsePropertyNoPaging')).toEqual([]);
  });

  it('custom object schemas: CollectionResponseObjectSchemaNoPaging', async () => {
    const all = await client.crm.schemas.coreApi.getAll();
    expect(all.results.map((s) => s.objectTypeId)).toEqual(['2-3465']);
    expect(modelProblems(schemas, last('/schemas').response, 'CollectionResponseObjectSchemaNoPaging')).toEqual([]);
  });

  /**
   * Where the client's model and HubSpot's answers differ, HubSpot wins: the v4 association reads
   * answer `toObjectId` as a JSON number and unlabeled types with `"label": null` (as integrations
   * that call HubSpot record them; the model types both as strings). The client's deserialiser passes
   * both through; hubsync reads either form.
   */
  const HUBSPOT_NOT_THE_MODEL = [/\.toObjectId: \d+ is not a string$/, /\.associationTypes\[\d+\]\.label: null where string is expected$/];
  const v4Problems = (value: unknown, type: string) => modelProblems(associations, value, type).filter((p) => !HUBSPOT_NOT_THE_MODEL.some((re) => re.test(p)));

  it('v4 association batch reads: BatchResponsePublicAssociationMultiWithLabel, and with errors its WithErrors twin', async () => {
    const contacts = sandbox.hubspot.truth(PORTAL)[0]!.objects.filter((o) => o.objectType === 'contacts' && !o.archived && !o.mergedInto).map((o) => o.id);
    await client.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: contacts.slice(0, 3).map((id) => ({ id })) });
    expect(last('/crm/v4/associations/contacts/companies/batch/read').status).toBe(200);
    expect(v4Problems(last('/crm/v4/associations/contacts/companies/batch/read').response, 'BatchResponsePublicAssociationMultiWithLabel')).toEqual([]);
    await client.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: [{ id: contacts[0]! }, { id: contacts[5]! }] });
    expect(last('/crm/v4/associations/contacts/companies/batch/read').status).toBe(207);
    expect(v4Problems(last('/crm/v4/associations/contacts/companies/batch/read').response, 'BatchResponsePublicAssociationMultiWithLabelWithErrors')).toEqual([]);
  });

  it('errors: the client\u2019s error model for 4xx; for 429 the fields HubSpot documents', async () => {
    await expect(client.crm.objects.basicApi.getById('contacts', '424242')).rejects.toMatchObject({ code: 404 });
    expect(modelProblems(objects, last('/424242').response, 'ModelError', '$', false)).toEqual([]);
    await expect(client.crm.objects.searchApi.doSearch('contacts', { filterGroups: Array.from({ length: 6 }, () => ({ filters: [{ propertyName: 'email', operator: 'EQ' as never, value: 'x' }] })), sorts: [], properties: [], limit: 1, after: '0' })).rejects.toMatchObject({ code: 400 });
    expect(modelProblems(objects, last('/search').response, 'ModelError', '$', false)).toEqual([]);
    const stranger = new Client({ accessToken: 'pat-nobody', basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
    await expect(stranger.crm.objects.basicApi.getPage('contacts', 1)).rejects.toMatchObject({ code: 401 });
    expect(modelProblems(objects, last('/crm/v3/objects/contacts?limit=1').response, 'ModelError', '$', false)).toEqual([]);
    sandbox.hubspot.failNext({ status: 429, count: 1, policy: 'TEN_SECONDLY_ROLLING', portalId: PORTAL });
    await expect(client.crm.objects.basicApi.getPage('contacts', 1)).rejects.toMatchObject({ code: 429 });
    const limited = last('/crm/v3/objects/contacts?limit=1');
    // reference/hubspot.md: {"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING",...}
    expect(limited.response).toMatchObject({ status: 'error', message: 'You have reached your ten_secondly_rolling limit.', errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING', correlationId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    for (const header of ['x-hubspot-ratelimit-max', 'x-hubspot-ratelimit-remaining', 'x-hubspot-ratelimit-interval-milliseconds', 'x-hubspot-ratelimit-daily', 'x-hubspot-ratelimit-daily-remaining']) {
      expect(limited.headers.get(header), header).toMatch(/^\d+$/);
    }
  });

  it('search answers carry no rate-limit headers; other calls carry them all', async () => {
    await client.crm.objects.searchApi.doSearch('contacts', { filterGroups: [], sorts: [], properties: [], limit: 1, after: '0' });
    expect([...last('/search').headers.keys()].filter((h) => h.startsWith('x-hubspot-ratelimit'))).toEqual([]);
    await client.crm.objects.basicApi.getPage('contacts', 1);
    expect([...last('/crm/v3/objects/contacts?limit=1').headers.keys()].filter((h) => h.startsWith('x-hubspot-ratelimit-')).length).toBeGreaterThanOrEqual(5);
  });

  it('hubsync\u2019s own requests are what the client\u2019s request models say, and the stand-in takes them', async () => {
    const config = configSchema.parse({ hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: TOKEN }] } }).hubspot;
    const accounts = createHubSpotAccounts(config, { log: pino({ level: 'silent' }), timeScale: 0.01 });
    try {
      const account = accounts.get(PORTAL)!;
      const from = served.length;
      const search = await account.search('contacts', { filterGroups: [{ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE', value: '0' }] }], sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }, { propertyName: 'hs_object_id', direction: 'ASCENDING' }], properties: ['email'], limit: 3 }, 'incremental');
      expect(search.ok).toBe(true);
      const ids = search.ok ? search.value.results.map((o) => o.id) : [];
      expect((await account.batchRead('contacts', ids, 'all', 'hydration')).ok).toBe(true);
      expect((await account.listPage('contacts', { limit: 2, properties: ['email'] }, 'backfill')).ok).toBe(true);
      const sent = served.slice(from);
      const searchBody = sent.find((e) => e.path.endsWith('/search'))!.body;
      // HubSpot's search guide sends sorts as {propertyName, direction}; the model types them as strings.
      expect(modelProblems(objects, searchBody, 'PublicObjectSearchRequest').filter((p) => !/^\$\.sorts\[\d+\]: .* is not a string$/.test(p))).toEqual([]);
      const readBody = sent.find((e) => e.path.endsWith('/batch/read'))!.body as { properties: string[] };
      expect(modelProblems(objects, readBody, 'BatchReadInputSimplePublicObjectId')).toEqual([]);
      // `all`: every property the type has, never HubSpot's default set.
      expect(readBody.properties).toEqual(sandbox.hubspot.propertyNames('contacts', PORTAL));
      expect(sent.every((e) => e.status < 300)).toBe(true);
    } finally {
      accounts.close();
    }
  });
});
