import { Client } from '@hubspot/api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';

const TOKEN = 'pat-test-1';
let sandbox: Sandbox;
let client: Client;

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.05,
    hubspot: { accounts: [{ portalId: 101, accessToken: TOKEN, tier: 'increase' }] },
  });
  // No limiterOptions: v14 only adds its Bottleneck limiter when they are set; retries 0 disables its retry decorator.
  client = new Client({ accessToken: TOKEN, basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
  const at = Date.parse('2026-11-22T08:00:00.000Z');
  sandbox.hubspot.seed({ portalId: 101, objectType: 'contacts', count: 250, at, properties: (i) => ({ email: `c${i}@example.com`, firstname: `C${i}` }) });
});

afterAll(async () => {
  await sandbox.close();
});

describe('the real @hubspot/api-client against the sandbox', () => {
  it('pages contacts with getPage', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await client.crm.contacts.basicApi.getPage(100, after, ['email']);
      seen.push(...page.results.map((r) => r.id));
      after = page.paging?.next?.after;
    } while (after);
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    const one = await client.crm.objects.basicApi.getById('contacts', seen[0] as string, ['email']);
    expect(one.properties['email']).toBe('c0@example.com');
    expect(one.properties['lastmodifieddate']).toBe('2026-11-22T08:00:00.000Z');
    expect(one.properties['hs_object_id']).toBe(one.id);
    expect(one.createdAt).toBeInstanceOf(Date);
  });

  it('searches with filters, one sort and a total', async () => {
    const res = await client.crm.objects.searchApi.doSearch('contacts', {
      filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ' as never, value: 'c7@example.com' }] }],
      sorts: ['hs_object_id'], properties: ['email'], limit: 10, after: '0',
    });
    expect(res.total).toBe(1);
    expect(res.results[0]?.properties['email']).toBe('c7@example.com');
  });

  it('batch-reads, reporting missing ids as a 207 with errors', async () => {
    const page = await client.crm.contacts.basicApi.getPage(2);
    const ids = page.results.map((r) => r.id);
    const res = await client.crm.objects.batchApi.read('contacts', { inputs: [...ids, '999999'].map((id) => ({ id })), properties: ['email'], propertiesWithHistory: [] });
    expect(res.status).toBe('COMPLETE');
    expect(res.results.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect((res as { errors?: { context?: Record<string, string[]> }[] }).errors?.[0]?.context?.['ids']).toEqual(['999999']);
  });

  it('lists archived records with archivedAt', async () => {
    const page = await client.crm.contacts.basicApi.getPage(3);
    const id = page.results[2]?.id as string;
    await client.crm.contacts.basicApi.archive(id);
    const archived = await client.crm.objects.basicApi.getPage('contacts', 100, undefined, undefined, undefined, undefined, true);
    expect(archived.results.map((r) => r.id)).toEqual([id]);
    expect(archived.results[0]?.archived).toBe(true);
    expect(archived.results[0]?.archivedAt).toBeInstanceOf(Date);
    const live = await client.crm.objects.basicApi.getPage('contacts', 100);
    expect(live.results.map((r) => r.id)).not.toContain(id);
  });

  it('rejects a bad token with HubSpot’s 401 body', async () => {
    const bad = new Client({ accessToken: 'nope', basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
    const err = await bad.crm.contacts.basicApi.getPage(1).catch((e: unknown) => e);
    expect((err as { code: number }).code).toBe(401);
    expect((err as { body: { category: string } }).body.category).toBe('INVALID_AUTHENTICATION');
  });

  it('merges to a new id that both old ids read as, and finds records by idProperty', async () => {
    const page = await client.crm.contacts.basicApi.getPage(2, undefined, ['email']);
    const [a, b] = page.results.map((r) => r.id) as [string, string];
    const merged = await client.apiRequest({ method: 'POST', path: '/crm/v3/objects/contacts/merge', body: { primaryObjectId: a, objectIdToMerge: b } });
    const created = await merged.json() as { id: string };
    expect(Number(created.id)).toBeGreaterThan(Number(b));
    for (const old of [a, b]) {
      const got = await client.crm.contacts.basicApi.getById(old, ['hs_merged_object_ids']);
      expect(got.id).toBe(created.id);
      expect(got.properties['hs_merged_object_ids']).toBe(`${a};${b}`);
    }
    const byEmail = await client.crm.contacts.basicApi.getById('c10@example.com', ['firstname'], undefined, undefined, undefined, 'email');
    expect(byEmail.properties['firstname']).toBe('C10');
  });

  it('associates and reads associations through the v4 API', async () => {
    const company = await client.crm.companies.basicApi.create({ properties: { name: 'Acme' }, associations: [] });
    const page = await client.crm.contacts.basicApi.getPage(2);
    const ids = page.results.map((r) => r.id);
    for (const id of ids) await client.crm.associations.v4.basicApi.createDefault('contacts', id, 'companies', company.id);
    const one = await client.crm.associations.v4.basicApi.getPage('contacts', ids[0] as string, 'companies');
    expect(one.results.map((r) => [String(r.toObjectId), r.associationTypes[0]?.typeId])).toEqual([[company.id, 279]]);
    const batch = await client.crm.associations.v4.batchApi.getPage('companies', 'contacts', { inputs: [{ id: company.id }] });
    expect(batch.results[0]?.to.map((t) => String(t.toObjectId)).sort()).toEqual([...ids].sort());
    await client.crm.associations.v4.basicApi.archive('contacts', ids[0] as string, 'companies', company.id);
    const after = await client.crm.associations.v4.basicApi.getPage('contacts', ids[0] as string, 'companies');
    expect(after.results).toEqual([]);
  });

  it('v4 batch reads page each object\'s associations, carry type ids and labels, and answer 207 for objects without any', async () => {
    sandbox.hubspot.store.associationPageSize = 2;
    try {
      const contact = sandbox.hubspot.create('contacts', { email: 'pager@example.com' }, { portalId: 101 });
      const companies = ['A', 'B', 'C'].map((name) => sandbox.hubspot.create('companies', { name }, { portalId: 101 }));
      for (const c of companies) sandbox.hubspot.associate('contacts', contact.id, 'companies', c.id, { portalId: 101 });
      const lonely = sandbox.hubspot.create('contacts', { email: 'lonely@example.com' }, { portalId: 101 });
      const first = await client.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: [{ id: contact.id }, { id: lonely.id }, { id: '999999' }] });
      expect(first.results).toHaveLength(1);
      const page = first.results[0]!;
      expect(page._from.id).toBe(contact.id);
      expect(page.to.map((t) => String(t.toObjectId))).toEqual(companies.slice(0, 2).map((c) => c.id));
      expect(page.to[0]?.associationTypes).toEqual([
        { category: 'HUBSPOT_DEFINED', typeId: 279, label: null },
        { category: 'HUBSPOT_DEFINED', typeId: 1, label: 'Primary' },
      ]);
      const errors = 'errors' in first ? (first.errors ?? []) : [];
      expect(errors.flatMap((e) => e.context['fromObjectId'])).toEqual([lonely.id, '999999']);
      const next = await client.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: [{ id: contact.id, after: page.paging!.next!.after }] });
      expect(next.results[0]?.to.map((t) => String(t.toObjectId))).toEqual([companies[2]!.id]);
      expect(next.results[0]?.paging).toBeUndefined();
      // A deleted record's associations are hidden from reads until it is restored.
      sandbox.hubspot.archive('companies', companies[0]!.id, { portalId: 101 });
      const hidden = await client.crm.associations.v4.batchApi.getPage('contacts', 'companies', { inputs: [{ id: contact.id }] });
      expect(hidden.results[0]?.to.map((t) => String(t.toObjectId))).toEqual(companies.slice(1).map((c) => c.id));
    } finally {
      sandbox.hubspot.store.associationPageSize = 500;
    }
  });

  it('lists custom object schemas (name, labels, type id, association definitions)', async () => {
    const { results } = await client.crm.schemas.coreApi.getAll();
    expect(results.map((s) => [s.objectTypeId, s.name, s.labels.singular, s.fullyQualifiedName])).toEqual([['2-3465', 'projects', 'Project', 'p101_projects']]);
    expect(results[0]?.associations.map((a) => a.toObjectTypeId)).toEqual(['0-1', '0-2', '0-3', '0-5']);
  });

  it('its truth names the final survivor of chained merges, moves associations with merges and drops a privacy-deleted person\'s', async () => {
    const [a, b, c] = ['ma', 'mb', 'mc'].map((name) => sandbox.hubspot.create('contacts', { email: `${name}@example.com` }, { portalId: 101 }));
    const company = sandbox.hubspot.create('companies', { name: 'Merged Inc' }, { portalId: 101 });
    sandbox.hubspot.associate('contacts', a!.id, 'companies', company.id, { portalId: 101 });
    const ab = sandbox.hubspot.merge('contacts', a!.id, b!.id, { portalId: 101 });
    const abc = sandbox.hubspot.merge('contacts', ab.ok ? ab.object.id : '', c!.id, { portalId: 101 });
    if (!ab.ok || !abc.ok) throw new Error('merge failed');
    const truth = sandbox.hubspot.truth(101)[0]!;
    const mergedInto = (id: string) => truth.objects.find((o) => o.objectType === 'contacts' && o.id === id)?.mergedInto;
    expect([a!.id, b!.id, ab.object.id, c!.id].map(mergedInto)).toEqual([abc.object.id, abc.object.id, abc.object.id, abc.object.id]);
    const edges = (t: typeof truth) => t.associations.filter((e) => e.fromId === company.id || e.toId === company.id).map((e) => [`${e.fromTypeId} ${e.fromId}`, `${e.toTypeId} ${e.toId}`].sort().join(' - '));
    expect(edges(truth)).toEqual([`0-1 ${abc.object.id} - 0-2 ${company.id}`]);
    sandbox.hubspot.privacyDelete(abc.object.id, { portalId: 101 });
    expect(edges(sandbox.hubspot.truth(101)[0]!)).toEqual([]);
  });

  it('a privacy-deleted person is in no read any more: not live, not archived, not by batch read or search', async () => {
    const person = sandbox.hubspot.create('contacts', { email: 'erased@example.com' }, { portalId: 101 });
    const archived = sandbox.hubspot.create('contacts', { email: 'erased-after-delete@example.com' }, { portalId: 101 });
    sandbox.hubspot.archive('contacts', archived.id, { portalId: 101 });
    const ids = [person.id, archived.id];
    // Before: each read shows one of them.
    const read = async (archivedToo: boolean) => (await client.crm.objects.batchApi.read('contacts', { inputs: ids.map((id) => ({ id })), properties: ['email'], propertiesWithHistory: [] }, archivedToo)).results.map((r) => r.id);
    expect(await read(false)).toEqual([person.id]);
    expect(await read(true)).toEqual([archived.id]);
    const search = async () =>
      (await client.crm.objects.searchApi.doSearch('contacts', { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ' as never, value: 'erased@example.com' }] }], sorts: ['hs_object_id'], properties: ['email'], limit: 10, after: '0' })).results.map((r) => r.id);
    expect(await search()).toEqual([person.id]);
    for (const id of ids) sandbox.hubspot.privacyDelete(id, { portalId: 101 });
    expect(await read(false)).toEqual([]);
    expect(await read(true)).toEqual([]);
    const listed: string[] = [];
    for (const archivedList of [false, true]) {
      let after: string | undefined;
      do {
        const page = await client.crm.objects.basicApi.getPage('contacts', 100, after, undefined, undefined, undefined, archivedList);
        listed.push(...page.results.map((r) => r.id));
        after = page.paging?.next?.after;
      } while (after);
    }
    expect(listed.length).toBeGreaterThan(250);
    expect(listed.filter((id) => ids.includes(id))).toEqual([]);
    expect(await search()).toEqual([]);
  });

  it('batch-creates, -updates and -archives', async () => {
    const created = await client.crm.deals.batchApi.create({ inputs: [{ properties: { dealname: 'One' }, associations: [] }, { properties: { dealname: 'Two' }, associations: [] }] });
    const ids = created.results.map((r) => r.id);
    const updated = await client.crm.deals.batchApi.update({ inputs: ids.map((id) => ({ id, properties: { amount: '10' } })) });
    expect(updated.results.map((r) => r.properties['amount'])).toEqual(['10', '10']);
    await client.crm.deals.batchApi.archive({ inputs: ids.map((id) => ({ id })) });
    const archived = await client.crm.deals.basicApi.getPage(10, undefined, undefined, undefined, undefined, true);
    expect(archived.results.map((r) => r.id).sort()).toEqual([...ids].sort());
  });
});
