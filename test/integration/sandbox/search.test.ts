import { Client } from '@hubspot/api-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';

const TOKEN = 'pat-search';
const TS = Date.parse('2026-11-22T08:00:00.000Z');
let sandbox: Sandbox;
let client: Client;

type Filter = { propertyName: string; operator: string; value?: string };
const search = (body: { filters?: Filter[]; after?: string; limit?: number; sorts?: unknown[] }) =>
  client.crm.objects.searchApi.doSearch('contacts', {
    filterGroups: body.filters ? [{ filters: body.filters as never }] : [],
    sorts: (body.sorts ?? [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }]) as never,
    properties: ['email', 'lastmodifieddate'], limit: body.limit ?? 200, after: body.after ?? '0',
  });

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.05,
    hubspot: { accounts: [{ portalId: 7, accessToken: TOKEN, limits: { searchPerSecond: 10_000, perTenSeconds: 100_000 } }] },
  });
  client = new Client({ accessToken: TOKEN, basePath: sandbox.baseUrl, numberOfApiCallRetries: 0 });
  // An import: 15,000 contacts sharing one last-modified timestamp; ids run 1001..16000, across a digit boundary.
  sandbox.hubspot.seed({ portalId: 7, objectType: 'contacts', count: 15_000, at: TS, properties: (i) => ({ email: `tie${i}@example.com` }) });
});

afterAll(async () => {
  await sandbox.close();
});

describe('CRM search', () => {
  it('walks a 15,000-record tie with a (timestamp, id) cursor, sorting hs_object_id numerically', async () => {
    const ids: number[] = [];
    let lastId = '0';
    for (;;) {
      const page = await search({
        filters: [
          { propertyName: 'lastmodifieddate', operator: 'EQ', value: String(TS) },
          { propertyName: 'hs_object_id', operator: 'GT', value: lastId },
        ],
      });
      if (page.results.length === 0) break;
      ids.push(...page.results.map((r) => Number(r.id)));
      lastId = page.results[page.results.length - 1]?.id as string;
    }
    expect(ids).toHaveLength(15_000);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(15_000);
    expect(ids.indexOf(10_000) - ids.indexOf(9_999)).toBe(1);
  });

  it('accepts ISO and epoch-ms date filters and BETWEEN/IN/HAS_PROPERTY', async () => {
    const between = await search({ filters: [{ propertyName: 'lastmodifieddate', operator: 'BETWEEN', value: String(TS - 1), highValue: String(TS + 1) } as Filter], limit: 1 });
    expect(between.total).toBe(15_000);
    const iso = await search({ filters: [{ propertyName: 'lastmodifieddate', operator: 'GTE', value: '2026-11-22T08:00:00.000Z' }], limit: 1 });
    expect(iso.total).toBe(15_000);
    const inn = await search({ filters: [{ propertyName: 'email', operator: 'IN', values: ['tie1@example.com', 'tie2@example.com'] } as Filter] });
    expect(inn.results.map((r) => r.properties['email'])).toEqual(['tie1@example.com', 'tie2@example.com']);
    const none = await search({ filters: [{ propertyName: 'phone', operator: 'HAS_PROPERTY' }] });
    expect(none.total).toBe(0);
  });

  it('stops at the 10,000-result cap with a HubSpot-shaped 400', async () => {
    const last = await search({ after: '9800' });
    expect(last.total).toBe(15_000);
    expect(last.results).toHaveLength(200);
    expect(last.paging?.next?.after).toBe('10000');
    const err = (await search({ after: '10000' }).then(() => null, (e: unknown) => e)) as { code: number; body: { category: string; message: string; correlationId: string } };
    expect(err.code).toBe(400);
    expect(err.body.category).toBe('VALIDATION_ERROR');
    expect(err.body.message).toMatch(/10000/);
    expect(err.body.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects too many filters (5 groups, 6 per group, 18 in all) and limits over 200', async () => {
    const raw = (body: unknown) => fetch(`${sandbox.baseUrl}/crm/v3/objects/contacts/search`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const f = { propertyName: 'email', operator: 'HAS_PROPERTY' };
    expect((await raw({ filterGroups: Array.from({ length: 6 }, () => ({ filters: [f] })) })).status).toBe(400);
    expect((await raw({ filterGroups: [{ filters: Array.from({ length: 7 }, () => f) }] })).status).toBe(400);
    expect((await raw({ filterGroups: Array.from({ length: 4 }, () => ({ filters: Array.from({ length: 5 }, () => f) })) })).status).toBe(400);
    expect((await raw({ filterGroups: Array.from({ length: 3 }, () => ({ filters: Array.from({ length: 6 }, () => f) })), limit: 1 })).status).toBe(200);
    const tooBig = await raw({ limit: 201 });
    expect(tooBig.status).toBe(400);
    expect(await tooBig.json()).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
  });
});

describe('search-index lag', () => {
  it('hides new records and serves old values until the lag passes; GET sees the change at once', async () => {
    sandbox.hubspot.setIndexLag(4_000); // 200 ms at time scale 0.05
    const created = await client.crm.contacts.basicApi.create({ properties: { email: 'fresh@example.com' }, associations: [] });
    const byEmail = (email: string) => search({ filters: [{ propertyName: 'email', operator: 'EQ', value: email }] });
    expect((await byEmail('fresh@example.com')).total).toBe(0);
    await new Promise((r) => setTimeout(r, 260));
    expect((await byEmail('fresh@example.com')).total).toBe(1);

    await client.crm.contacts.basicApi.update(created.id, { properties: { email: 'renamed@example.com' } });
    expect((await client.crm.contacts.basicApi.getById(created.id, ['email'])).properties['email']).toBe('renamed@example.com');
    const stale = await byEmail('fresh@example.com');
    expect(stale.results[0]?.properties['email']).toBe('fresh@example.com');
    expect((await byEmail('renamed@example.com')).total).toBe(0);
    await new Promise((r) => setTimeout(r, 260));
    expect((await byEmail('fresh@example.com')).total).toBe(0);
    expect((await byEmail('renamed@example.com')).total).toBe(1);
    sandbox.hubspot.setIndexLag(0);
  });

  it('never returns archived records', async () => {
    const c = sandbox.hubspot.create('contacts', { email: 'gone@example.com' }, { portalId: 7 });
    sandbox.hubspot.archive('contacts', c.id, { portalId: 7 });
    expect((await search({ filters: [{ propertyName: 'email', operator: 'EQ', value: 'gone@example.com' }] })).total).toBe(0);
  });
});
