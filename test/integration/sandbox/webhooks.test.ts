import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox, type WebhookEvent } from '../../../src/sandbox/index.ts';
import { startReceiver } from './receiver.ts';

const SECRET = 'client-secret-ä';
let sandbox: Sandbox;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let portal = 100;

const SUBS = [
  { subscriptionType: 'contact.creation' },
  { subscriptionType: 'contact.propertyChange', propertyName: 'firstname' },
  { subscriptionType: 'contact.deletion' },
  { subscriptionType: 'contact.privacyDeletion' },
  { subscriptionType: 'contact.merge' },
  { subscriptionType: 'contact.associationChange' },
  { subscriptionType: 'company.associationChange' },
];

/** A fresh portal with its own app pointed at `path`, so tests do not see each other's events. */
function newApp(path: string, subscriptions = SUBS): number {
  const portalId = ++portal;
  sandbox.hubspot.webhooks.addApp({ appId: portalId * 10, clientSecret: SECRET, targetUrl: `${receiver.base}${path}`, subscriptions, portalIds: [portalId] });
  return portalId;
}

const eventsAt = (path: string): WebhookEvent[] =>
  receiver.received.filter((r) => r.url === path).flatMap((r) => r.body as WebhookEvent[]);

beforeAll(async () => {
  receiver = await startReceiver();
  sandbox = await startSandbox({ timeScale: 0.05, hubspot: { delivery: { retryBaseMs: 2_000, maxRetries: 3 } } });
});

afterAll(async () => {
  await sandbox.close();
  await receiver.close();
});

describe('webhook delivery', () => {
  it('posts signed batches (v1 and v3 over the raw bytes, non-ASCII included)', async () => {
    const path = '/hooks/sig?b=2&a=1';
    const portalId = newApp(path);
    sandbox.hubspot.create('contacts', { firstname: 'Zoë 😀', email: 'zoe@example.com' }, { portalId });
    await sandbox.idle();
    const req = receiver.received.find((r) => r.url === path);
    expect(req).toBeDefined();
    if (!req) return;
    expect(req.raw.toString('utf8')).toContain('Zoë 😀');
    expect(req.headers['x-hubspot-signature-version']).toBe('v1');
    const v1 = createHash('sha256').update(Buffer.concat([Buffer.from(SECRET, 'utf8'), req.raw])).digest('hex');
    expect(req.headers['x-hubspot-signature']).toBe(v1);
    const ts = String(req.headers['x-hubspot-request-timestamp']);
    expect(Math.abs(Number(ts) - Date.now())).toBeLessThan(60_000);
    const uri = `${receiver.base}${path}`;
    const v3 = createHmac('sha256', SECRET).update(Buffer.concat([Buffer.from(`POST${uri}`, 'utf8'), req.raw, Buffer.from(ts)])).digest('base64');
    expect(req.headers['x-hubspot-signature-v3']).toBe(v3);

    const events = req.body as WebhookEvent[];
    const creation = events.find((e) => e.subscriptionType === 'contact.creation');
    expect(creation).toMatchObject({ portalId, appId: portalId * 10, attemptNumber: 0, changeSource: 'CRM', changeFlag: 'NEW' });
    expect(Object.keys(creation ?? {}).slice(0, 7)).toEqual(['eventId', 'subscriptionId', 'portalId', 'appId', 'occurredAt', 'subscriptionType', 'attemptNumber']);
    expect(events.find((e) => e.subscriptionType === 'contact.propertyChange')).toMatchObject({ propertyName: 'firstname', propertyValue: 'Zoë 😀' });
  });

  it('describes merges, associations (one event per side) and privacy deletions', async () => {
    const path = '/hooks/kinds';
    const portalId = newApp(path);
    const a = sandbox.hubspot.create('contacts', { firstname: 'A' }, { portalId });
    const b = sandbox.hubspot.create('contacts', { email: 'b@example.com' }, { portalId });
    const co = sandbox.hubspot.create('companies', { name: 'Acme' }, { portalId });
    sandbox.hubspot.associate('contacts', a.id, 'companies', co.id, { portalId });
    const merged = sandbox.hubspot.merge('contacts', a.id, b.id, { portalId });
    if (!merged.ok) throw new Error(merged.message);
    const c = sandbox.hubspot.create('contacts', { firstname: 'C' }, { portalId });
    sandbox.hubspot.privacyDelete(c.id, { portalId });
    await sandbox.idle();
    const events = eventsAt(path);
    // The unlabeled association and, the contact's first company being its primary one, the primary label: each from both sides.
    const assoc = events.filter((e) => e.subscriptionType.endsWith('associationChange'));
    expect(assoc).toHaveLength(4);
    expect(assoc.filter((e) => e.isPrimaryAssociation).map((e) => e.associationType).sort()).toEqual(['COMPANY_TO_CONTACT', 'CONTACT_TO_COMPANY']);
    expect(assoc.find((e) => e.subscriptionType === 'contact.associationChange' && !e.isPrimaryAssociation)).toMatchObject({
      associationType: 'CONTACT_TO_COMPANY', fromObjectId: Number(a.id), toObjectId: Number(co.id), associationRemoved: false, isPrimaryAssociation: false,
    });
    expect(assoc.find((e) => e.subscriptionType === 'company.associationChange')).toMatchObject({
      associationType: 'COMPANY_TO_CONTACT', fromObjectId: Number(co.id), toObjectId: Number(a.id),
    });
    expect(events.find((e) => e.subscriptionType === 'contact.merge')).toMatchObject({
      objectId: Number(merged.object.id), primaryObjectId: Number(a.id), mergedObjectIds: [Number(b.id)], newObjectId: Number(merged.object.id), numberOfPropertiesMoved: 1,
    });
    expect(merged.object.id).not.toBe(a.id);
    expect(sandbox.hubspot.store.get(portalId, sandbox.hubspot.type('contacts'), b.id)?.id).toBe(merged.object.id);
    expect(merged.object.state.properties['hs_merged_object_ids']).toBe(`${a.id};${b.id}`);
    const kinds = events.filter((e) => e.objectId === Number(c.id)).map((e) => e.subscriptionType);
    expect(kinds).toEqual(expect.arrayContaining(['contact.privacyDeletion', 'contact.deletion']));
  });

  it("moves the primary label with the contact's primary company (its lowest-id company): the company it leaves stays associated", async () => {
    const path = '/hooks/primary';
    const portalId = newApp(path);
    const contact = sandbox.hubspot.create('contacts', { firstname: 'P' }, { portalId });
    const [low, high] = [sandbox.hubspot.create('companies', { name: 'Low' }, { portalId }), sandbox.hubspot.create('companies', { name: 'High' }, { portalId })];
    sandbox.hubspot.associate('contacts', contact.id, 'companies', high.id, { portalId });
    await sandbox.idle();
    const before = eventsAt(path).length;
    sandbox.hubspot.associate('contacts', contact.id, 'companies', low.id, { portalId });
    await sandbox.idle();
    const moved = eventsAt(path).slice(before).filter((e) => e.subscriptionType === 'contact.associationChange');
    const seen = moved.map((e) => [e.toObjectId, e.associationRemoved, e.isPrimaryAssociation]);
    expect(seen).toHaveLength(3);
    expect(seen).toEqual(expect.arrayContaining([
      [Number(low.id), false, false],
      [Number(high.id), true, true],
      [Number(low.id), false, true],
    ]));
    expect(sandbox.hubspot.store.primaryCompanyOf(portalId, sandbox.hubspot.type('contacts'), contact.id)).toBe(low.id);
    expect(sandbox.hubspot.store.associationsOf(portalId, sandbox.hubspot.type('contacts'), contact.id).map((a) => a.toId).sort()).toEqual([high.id, low.id].sort());
  });

  it('retries a failed batch with the same eventIds and growing attemptNumber', async () => {
    const path = '/hooks/retry';
    let calls = 0;
    receiver.setResponder((r) => (r.url === path && calls++ < 2 ? { status: 500 } : { status: 204 }));
    const portalId = newApp(path, [{ subscriptionType: 'contact.creation' }]);
    sandbox.hubspot.create('contacts', { firstname: 'R' }, { portalId });
    await sandbox.idle();
    const events = eventsAt(path);
    expect(events.map((e) => e.attemptNumber)).toEqual([0, 1, 2]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(1);
    const record = sandbox.hubspot.deliveries().find((d) => d.event.portalId === portalId);
    expect(record?.attempts.map((a) => [a.attemptNumber, a.status, a.ok])).toEqual([[0, 500, false], [1, 500, false], [2, 204, true]]);
    expect(record?.delivered).toBe(true);
    receiver.setResponder(() => ({ status: 204 }));
  });

  it('treats a slow answer as a failure (5 s timeout, scaled) and gives up after the last retry', async () => {
    const path = '/hooks/slow';
    receiver.setResponder((r) => (r.url === path ? { status: 200, delayMs: 400 } : { status: 204 }));
    const portalId = newApp(path, [{ subscriptionType: 'contact.creation' }]);
    sandbox.hubspot.create('contacts', { firstname: 'S' }, { portalId });
    await sandbox.idle();
    const record = sandbox.hubspot.deliveries().find((d) => d.event.portalId === portalId);
    expect(record?.attempts.map((a) => a.error)).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
    expect(record?.gaveUp).toBe(true);
    expect(record?.delivered).toBe(false);
    receiver.setResponder(() => ({ status: 204 }));
  });

  it('sends at most 100 events per POST', async () => {
    const path = '/hooks/batch';
    const portalId = newApp(path, [{ subscriptionType: 'contact.creation' }]);
    for (let i = 0; i < 250; i++) sandbox.hubspot.create('contacts', { firstname: `B${i}` }, { portalId });
    await sandbox.idle();
    expect(receiver.received.filter((r) => r.url === path).map((r) => (r.body as unknown[]).length)).toEqual([100, 100, 50]);
  });

  it('injects drops, duplicates and reused eventIds', async () => {
    const path = '/hooks/faults';
    const portalId = newApp(path, [{ subscriptionType: 'contact.creation' }]);
    sandbox.hubspot.setFaults({ dropRate: 1 });
    const dropped = sandbox.hubspot.create('contacts', {}, { portalId });
    sandbox.hubspot.setFaults({ dropRate: 0, duplicateRate: 1 });
    const duplicated = sandbox.hubspot.create('contacts', {}, { portalId });
    sandbox.hubspot.setFaults({ duplicateRate: 0, eventIdReuseRate: 1 });
    const reused = sandbox.hubspot.create('contacts', {}, { portalId });
    sandbox.hubspot.setFaults({ eventIdReuseRate: 0 });
    await sandbox.idle();
    const events = eventsAt(path);
    expect(events.filter((e) => e.objectId === Number(dropped.id))).toEqual([]);
    const dups = events.filter((e) => e.objectId === Number(duplicated.id));
    expect(dups).toHaveLength(2);
    expect(dups[0]).toEqual(dups[1]);
    const records = sandbox.hubspot.deliveries().filter((d) => d.event.portalId === portalId);
    expect(records.map((r) => [r.dropped, r.duplicated, r.delivered])).toEqual([[true, false, false], [false, true, true], [false, false, true]]);
    const reusedEvent = events.find((e) => e.objectId === Number(reused.id));
    const earlierIds = sandbox.hubspot.deliveries().filter((d) => d.seq < (records[2]?.seq ?? 0)).map((d) => d.event.eventId);
    expect(earlierIds).toContain(reusedEvent?.eventId);
  });

  it('reorders and delays deliveries when told, still delivering every event once', async () => {
    const path = '/hooks/reorder';
    const portalId = newApp(path, [{ subscriptionType: 'contact.creation' }]);
    sandbox.hubspot.setFaults({ reorder: true, delayRate: 0.5, delayMs: 4_000 });
    const ids = Array.from({ length: 60 }, (_, i) => Number(sandbox.hubspot.create('contacts', { firstname: `O${i}` }, { portalId }).id));
    sandbox.hubspot.setFaults({ reorder: false, delayRate: 0, delayMs: 0 });
    await sandbox.idle();
    // First attempts only: a batch the receiver answered past the (scaled) timeout on a loaded
    // machine is sent again, as HubSpot does, with a higher attemptNumber.
    const got = eventsAt(path).filter((e) => e.attemptNumber === 0).map((e) => e.objectId);
    expect([...got].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(ids);
    expect(got).not.toEqual(ids);
    expect(sandbox.hubspot.deliveries().filter((d) => d.event.portalId === portalId).some((d) => d.delayedMs > 0)).toBe(true);
  });
});
