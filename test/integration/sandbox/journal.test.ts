import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';

const PORTAL = 101;
const OTHER = 202;
const APP = { appId: 77, clientId: 'client-77', clientSecret: 'secret-77' };
const J = '/webhooks-journal/journal/2026-03';
const S = '/webhooks-journal/subscriptions/2026-03';
let sandbox: Sandbox;
let token: string;

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.01,
    hubspot: {
      accounts: [
        { portalId: PORTAL, accessToken: 'pat-101' },
        { portalId: OTHER, accessToken: 'pat-202' },
      ],
      journal: { apps: [APP], limits: { journalPerSecond: 1000 } },
    },
  });
  token = (await tokenFor()).access_token;
});

afterAll(async () => {
  await sandbox.close();
});

async function tokenFor(scope = 'developer.webhooks_journal.read developer.webhooks_journal.subscriptions.read developer.webhooks_journal.subscriptions.write crm.objects.contacts.read crm.objects.companies.read', clientId = APP.clientId) {
  const res = await fetch(`${sandbox.baseUrl}/oauth/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: APP.clientSecret, scope }),
  });
  return { http: res.status, ...((await res.json()) as { access_token: string; expires_in: number; token_use: string; status?: string }) };
}

async function call(method: string, path: string, body?: unknown, bearer = token): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${sandbox.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function file(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined, text };
}

/** Every event after `offset` (or from the earliest entry), following `next` until caught up. */
async function readAll(from?: string, base = J, query = ''): Promise<{ events: any[]; last: string | undefined }> {
  const events: any[] = [];
  let offset = from;
  for (;;) {
    const res = await call('GET', offset ? `${base}/offset/${offset}/next${query}` : `${base}/earliest${query}`);
    if (res.status === 204 || res.body === undefined) return { events, last: offset };
    expect(res.status).toBe(200);
    const f = await file(res.body.url);
    expect(f.body.offset).toBe(res.body.currentOffset);
    events.push(...f.body.journalEvents);
    offset = res.body.currentOffset;
  }
}

describe('the Webhooks Journal stand-in', () => {
  it('issues client-credentials tokens for the app, with the scopes asked for', async () => {
    const ok = await tokenFor('developer.webhooks_journal.read');
    expect(ok).toMatchObject({ http: 200, token_use: 'client_credentials' });
    // Thirty minutes, time-scaled (0.01): 18 s.
    expect(ok.expires_in).toBe(18);
    expect(await tokenFor('developer.webhooks_journal.read', 'nobody')).toMatchObject({ http: 400, status: 'BAD_CLIENT_ID' });
    expect(await tokenFor('crm.objects.owners.read')).toMatchObject({ http: 400, status: 'BAD_SCOPES' });
    const json = await fetch(`${sandbox.baseUrl}/oauth/v1/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
    // Nothing written yet: caught up at once. A token without the read scope cannot read the journal.
    expect((await call('GET', `${J}/earliest`, undefined, ok.access_token)).status).toBe(204);
    const writeOnly = await tokenFor('developer.webhooks_journal.subscriptions.read');
    expect((await call('GET', `${J}/earliest`, undefined, writeOnly.access_token)).status).toBe(403);
    expect((await call('GET', `${J}/earliest`, undefined, 'nonsense')).status).toBe(401);
  });

  it('keeps subscriptions as upserts, with filters, and refuses what the token may not see', async () => {
    const created = await call('POST', S, { subscriptionType: 'OBJECT', portalId: PORTAL, objectTypeId: '0-1', actions: ['CREATE', 'UPDATE', 'DELETE', 'MERGE', 'RESTORE'], properties: ['email', 'firstname'] });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ appId: APP.appId, subscriptionType: 'OBJECT', objectTypeId: '0-1', portalId: PORTAL, properties: ['email', 'firstname'] });
    // The same (type, portal, object type) again updates the subscription it already has.
    const again = await call('POST', S, { subscriptionType: 'OBJECT', portalId: PORTAL, objectTypeId: '0-1', actions: ['CREATE', 'UPDATE', 'DELETE', 'MERGE', 'RESTORE'], properties: ['email', 'firstname', 'lastname'] });
    expect(again.body.id).toBe(created.body.id);
    expect(again.body.properties).toEqual(['email', 'firstname', 'lastname']);
    expect((await call('POST', S, { subscriptionType: 'ASSOCIATION', portalId: PORTAL, objectTypeId: '0-1', actions: ['ASSOCIATION_ADDED', 'ASSOCIATION_REMOVED'], associatedObjectTypeIds: ['0-2'] })).status).toBe(200);
    expect((await call('POST', S, { subscriptionType: 'GDPR_PRIVACY_DELETION', portalId: PORTAL, objectTypeId: '0-1', actions: ['GDPR_DELETE'] })).status).toBe(200);
    expect((await call('POST', S, { subscriptionType: 'APP_LIFECYCLE_EVENT', eventTypeId: '4-1916193', actions: ['APP_UNINSTALL'] })).status).toBe(200);
    // Deals were not in the token's scopes; a bad action and a missing portal are validation errors.
    expect((await call('POST', S, { subscriptionType: 'OBJECT', portalId: PORTAL, objectTypeId: '0-3', actions: ['CREATE'] })).status).toBe(403);
    expect((await call('POST', S, { subscriptionType: 'OBJECT', portalId: PORTAL, objectTypeId: '0-1', actions: ['GDPR_DELETE'] })).status).toBe(400);
    expect((await call('POST', S, { subscriptionType: 'OBJECT', objectTypeId: '0-1', actions: ['CREATE'] })).status).toBe(400);
    const listed = await call('GET', S);
    expect(listed.body.results.map((s: any) => s.subscriptionType)).toEqual(['OBJECT', 'ASSOCIATION', 'GDPR_PRIVACY_DELETION', 'APP_LIFECYCLE_EVENT']);

    const company = await call('POST', S, { subscriptionType: 'OBJECT', portalId: PORTAL, objectTypeId: '0-2', actions: ['CREATE', 'UPDATE'], properties: ['name'] });
    const filter = await call('POST', `${S}/filters`, { subscriptionId: company.body.id, filter: { conditions: [{ filterType: 'CRM_OBJECT_PROPERTY', property: 'name', operator: 'STARTS_WITH', value: 'Keep' }] } });
    expect(filter.status).toBe(200);
    const filters = await call('GET', `${S}/filters/subscription/${company.body.id}`);
    expect(filters.body).toEqual([expect.objectContaining({ id: filter.body.filterId, filter: { conditions: [expect.objectContaining({ operator: 'STARTS_WITH' })] } })]);
    const before = (await readAll()).last;
    sandbox.hubspot.create('companies', { name: 'Keep me' }, { portalId: PORTAL });
    sandbox.hubspot.create('companies', { name: 'Drop me' }, { portalId: PORTAL });
    await sandbox.hubspot.journal.idle();
    const { events } = await readAll(before);
    expect(events.filter((e) => e.objectTypeId === '0-2').map((e) => e.propertyChanges)).toEqual([{ name: 'Keep me' }]);
    expect((await call('DELETE', `${S}/filters/${filter.body.filterId}`)).status).toBe(204);
    expect((await call('DELETE', `${S}/${company.body.id}`)).status).toBe(204);
    expect((await call('GET', `${S}/${company.body.id}`)).status).toBe(404);
  });

  it('writes object, merge, association and GDPR events in order, read by offset from pre-signed files', async () => {
    const start = (await readAll()).last;
    const a = sandbox.hubspot.create('contacts', { email: 'a@x.io', firstname: 'A', phone: '1' }, { portalId: PORTAL });
    const b = sandbox.hubspot.create('contacts', { email: 'b@x.io' }, { portalId: PORTAL });
    sandbox.hubspot.update('contacts', a.id, { phone: '2' }, { portalId: PORTAL }); // not subscribed: no event
    sandbox.hubspot.update('contacts', a.id, { firstname: 'Ann' }, { portalId: PORTAL });
    const company = sandbox.hubspot.create('companies', { name: 'Keep Co' }, { portalId: PORTAL });
    sandbox.hubspot.associate('contacts', a.id, 'companies', company.id, { portalId: PORTAL });
    const merged = sandbox.hubspot.merge('contacts', a.id, b.id, { portalId: PORTAL });
    expect(merged.ok).toBe(true);
    const survivor = merged.ok ? merged.object.id : '';
    sandbox.hubspot.privacyDelete(survivor, { portalId: PORTAL });
    sandbox.hubspot.create('contacts', { email: 'elsewhere@x.io' }, { portalId: OTHER }); // no subscription there
    await sandbox.hubspot.journal.idle();
    const { events } = await readAll(start);
    const contactEvents = events.filter((e) => e.objectTypeId === '0-1' || e.fromObjectTypeId === '0-1');
    expect(contactEvents.map((e) => [e.action, String(e.objectId ?? e.fromObjectId)])).toEqual([
      ['CREATE', a.id],
      ['CREATE', b.id],
      ['UPDATE', a.id],
      ['ASSOCIATION_ADDED', a.id],
      // Its first company is its primary one: the label is an association of its own.
      ['ASSOCIATION_ADDED', a.id],
      ['MERGE', survivor],
      ['GDPR_DELETE', survivor],
      ['DELETE', survivor],
    ]);
    expect(contactEvents[0]).toMatchObject({ type: 'crmObject', portalId: PORTAL, propertyChanges: { email: 'a@x.io', firstname: 'A' } });
    expect(contactEvents[0].propertyChanges).not.toHaveProperty('phone');
    expect(typeof contactEvents[0].occurredAt).toBe('string');
    expect(contactEvents[2].propertyChanges).toEqual({ firstname: 'Ann' });
    expect(contactEvents[3]).toMatchObject({ fromObjectId: Number(a.id), toObjectTypeId: '0-2', toObjectId: Number(company.id), associationTypeId: 279, associationCategory: 'HUBSPOT_DEFINED' });
    expect(contactEvents[4]).toMatchObject({ fromObjectId: Number(a.id), toObjectId: Number(company.id), associationTypeId: 1, associationCategory: 'HUBSPOT_DEFINED', isPrimary: true });
    expect(contactEvents[5].mergedObjectIds.map(String).sort()).toEqual([a.id, b.id].sort());
  });

  it('serves batches, batch reads (207 for unknown offsets), the local journal, and the caught-up forms', async () => {
    // One entry per tick: four more entries.
    for (let i = 0; i < 4; i++) {
      sandbox.hubspot.create('contacts', { email: `batch${i}@x.io` }, { portalId: PORTAL });
      await sandbox.hubspot.journal.idle();
    }
    const first = await call('GET', `${J}/earliest`);
    const batch = await call('GET', `${J}/batch/${first.body.currentOffset}/next/3`);
    expect(batch.status).toBe(200);
    expect(batch.body.status).toBe('COMPLETE');
    expect(batch.body.results).toHaveLength(3);
    expect((await call('GET', `${J}/batch/${first.body.currentOffset}/next/101`)).status).toBe(400);
    const read = await call('POST', `${J}/batch/read`, { inputs: [batch.body.results[1].currentOffset, '00000000-0000-0000-0000-000000000000'] });
    expect(read.status).toBe(207);
    expect(read.body.results.map((r: any) => r.currentOffset)).toEqual([batch.body.results[1].currentOffset]);
    expect(read.body.numErrors).toBe(1);
    const latest = await call('GET', `${J}/latest`);
    expect((await call('GET', `${J}/offset/${latest.body.currentOffset}/next`)).status).toBe(204);
    expect((await call('GET', `${J}/batch/${latest.body.currentOffset}/next/10`)).status).toBe(204);
    sandbox.hubspot.journal.setVariants({ caughtUp: 'empty' });
    const empty = await call('GET', `${J}/offset/${latest.body.currentOffset}/next`);
    expect([empty.status, empty.body]).toEqual([200, undefined]);
    expect((await call('GET', `${J}/batch/${latest.body.currentOffset}/next/10`)).body.results).toEqual([]);
    sandbox.hubspot.journal.setVariants({ caughtUp: '204' });

    const local = '/webhooks-journal/journal-local/2026-03';
    expect((await call('GET', `${local}/earliest`)).status).toBe(400);
    const localEvents = (await readAll(undefined, local, `?installPortalId=${PORTAL}`)).events;
    expect(localEvents.length).toBeGreaterThan(0);
    expect(localEvents.every((e) => e.portalId === PORTAL)).toBe(true);
    // Unknown versions are not served; 2027-03-beta is.
    expect((await call('GET', '/webhooks-journal/journal/v9/earliest')).status).toBe(404);
    expect((await call('GET', '/webhooks-journal/journal/2027-03-beta/earliest')).status).toBe(200);
  });

  it('files: no Authorization header, expiring URLs; offsets expire past the retention (404)', async () => {
    const latest = await call('GET', `${J}/latest`);
    expect((await file(latest.body.url, { authorization: `Bearer ${token}` })).status).toBe(400);
    expect((await file(latest.body.url.replace(/Signature=\w+/, 'Signature=0'))).status).toBe(403);
    sandbox.hubspot.journal.setFaults({ expiredUrlRate: 1 });
    const stale = await call('GET', `${J}/latest`);
    sandbox.hubspot.journal.setFaults({ expiredUrlRate: 0 });
    const denied = await file(stale.body.url);
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('<Code>AccessDenied</Code>');
    // A fresh URL for the same offset, by batch read.
    const fresh = await call('POST', `${J}/batch/read`, { inputs: [stale.body.currentOffset] });
    expect((await file(fresh.body.results[0].url)).status).toBe(200);

    const old = latest.body.currentOffset;
    sandbox.hubspot.journal.expireAll();
    expect((await call('GET', `${J}/offset/${old}/next`)).status).toBe(404);
    expect((await call('GET', `${J}/earliest`)).status).toBe(204);
  });

  it('can duplicate events across files, write epoch times and the other association spelling, and rate-limits with Retry-After', async () => {
    const journal = sandbox.hubspot.journal;
    journal.setVariants({ occurredAt: 'epoch', associationFields: 'associated' });
    journal.setFaults({ duplicateRate: 1 });
    const c = sandbox.hubspot.create('contacts', { email: 'dup@x.io' }, { portalId: PORTAL });
    const co = sandbox.hubspot.create('companies', { name: 'Keep Dup' }, { portalId: PORTAL });
    sandbox.hubspot.associate('contacts', c.id, 'companies', co.id, { portalId: PORTAL });
    // With every event duplicated, copies keep coming: stop the fault once some are written.
    await new Promise((r) => setImmediate(r));
    journal.setFaults({ duplicateRate: 0 });
    await journal.idle();
    const { events } = await readAll();
    const creates = events.filter((e) => e.action === 'CREATE' && String(e.objectId) === c.id);
    expect(creates.length).toBeGreaterThanOrEqual(2);
    expect(typeof creates[0].occurredAt).toBe('number');
    expect(events.find((e) => e.action === 'ASSOCIATION_ADDED' && String(e.objectId) === c.id)).toMatchObject({ associatedObjectTypeId: '0-2', associatedObjectId: Number(co.id), associationType: 'CONTACT_TO_COMPANY' });
    journal.setVariants({ occurredAt: 'iso', associationFields: 'fromTo' });

    const limited = await startSandbox({ timeScale: 1, hubspot: { accounts: [{ portalId: PORTAL, accessToken: 'pat-x' }], journal: { apps: [APP], limits: { journalPerSecond: 2 } } } });
    try {
      const res = await fetch(`${limited.baseUrl}/oauth/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: APP.clientId, client_secret: APP.clientSecret, scope: 'developer.webhooks_journal.read' }),
      });
      const t = ((await res.json()) as { access_token: string }).access_token;
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${limited.baseUrl}${J}/earliest`, { headers: { authorization: `Bearer ${t}` } });
        statuses.push(r.status);
        retryAfter ??= r.headers.get('retry-after');
      }
      expect(statuses).toEqual([204, 204, 429]);
      expect(retryAfter).toBe('1');
    } finally {
      await limited.close();
    }
  });
});
