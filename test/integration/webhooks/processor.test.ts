import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { ERASED_PAYLOAD, failAbandonedWebhookEvents, markWebhookEventsFailed, pruneWebhookEvents, retryFailedWebhookEvents, webhookStatus } from '../../../src/webhooks/inbox-store.ts';
import type { HubSpotReader } from '../../../src/hubspot/objects.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { processWebhookBatch, retryAt, type ProcessorDeps } from '../../../src/webhooks/processor.ts';
import { createProcessorService } from '../../../src/webhooks/service.ts';
import { loadPayload } from '../../../src/webhooks/flood.ts';
import type { Listen } from '../../../src/db/listen.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, hubspotEvent, PORTAL, storeHubSpotEvents, testConfig, waitFor } from './helpers.ts';

const testDb = useTestDb();
const { log } = captureLogger();
let clock = new Date('2026-11-22T10:00:00.000Z');

beforeEach(async () => {
  await sql`truncate webhook_events, webhook_pending, webhook_quarantine, hubspot_objects, hubspot_associations, change_ledger`.execute(testDb.db);
  clock = new Date('2026-11-22T10:00:00.000Z');
});

async function store(events: Record<string, unknown>[]): Promise<void> {
  await storeHubSpotEvents(testDb.db, events, clock);
}

/** The database's notifications, plus reports of a flood sent as a receiver would: at once and every 100 ms until `stop`. */
function floodReports(): { listen: Listen; stop: () => void } {
  let report: (payload: string) => void = () => undefined;
  const listen: Listen = async (channel, onNotify) => {
    report = onNotify;
    report(loadPayload(0.9));
    return testDb.listen(channel, onNotify);
  };
  const timer = setInterval(() => report(loadPayload(0.9)), 100);
  return { listen, stop: () => clearInterval(timer) };
}

/** Of `count` contact ids from `first`, those whose events fall to lane 0 and to lane 1 of two, in id order. */
async function contactsByLane(first: number, count: number): Promise<[number[], number[]]> {
  const { rows } = await sql<{ id: number; lane: number }>`
    select g as id, webhook_object_share(${PORTAL}, 'contacts', g::text) % 2 as lane
    from generate_series(${first}::int, ${first + count - 1}::int) g order by g`.execute(testDb.db);
  return [rows.filter((r) => r.lane === 0).map((r) => r.id), rows.filter((r) => r.lane === 1).map((r) => r.id)];
}

/** A reader that serves objects from a map and can be told to fail. */
function fakeReader(objects: Record<string, Record<string, string>>) {
  const calls: string[][] = [];
  let failures = 0;
  const reader: HubSpotReader = {
    async batchRead(_portal, _type, ids) {
      calls.push([...ids]);
      if (failures > 0) {
        failures -= 1;
        throw new Error('429 TEN_SECONDLY_ROLLING');
      }
      const results = ids.filter((id) => objects[id]).map((id) => ({ id, properties: objects[id]! }));
      return { results, missing: ids.filter((id) => !objects[id]) };
    },
  };
  return { reader, calls, failNext: (n: number) => (failures = n) };
}

/** A reader whose reads wait until `release()`, then answer every id with `properties` (none: every id missing). */
function heldReader(properties: Record<string, string>) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reads = 0;
  const reader: HubSpotReader = {
    async batchRead(_portal, _type, ids) {
      reads += 1;
      await released;
      const found = Object.keys(properties).length > 0;
      return { results: found ? ids.map((id) => ({ id, properties })) : [], missing: found ? [] : [...ids] };
    },
  };
  return { reader, reads: () => reads, release };
}

function deps(reader?: HubSpotReader, overrides: Partial<ProcessorDeps['config']> = {}): ProcessorDeps {
  return {
    db: testDb.db,
    log,
    metrics: new Metrics(),
    config: { ...testConfig().webhooks, backoffBaseMs: 1000, backoffMaxMs: 60_000, maxAttempts: 3, ...overrides },
    ...(reader ? { reader } : {}),
    now: () => clock,
    random: () => 1,
  };
}

describe('retry policy', () => {
  it('backs off exponentially to the cap, then gives up', () => {
    const config = { processBatchSize: 1, leaseSeconds: 1, maxAttempts: 5, backoffBaseMs: 1000, backoffMaxMs: 5000 };
    const now = new Date(0);
    expect([1, 2, 3, 4].map((n) => retryAt(n, now, config, () => 1)!.getTime())).toEqual([1000, 2000, 4000, 5000]);
    expect(retryAt(1, now, config, () => 0)!.getTime()).toBe(500);
    expect(retryAt(5, now, config, () => 1)).toBeNull();
  });
});

describe('processing', () => {
  it('hydrates creations once per object, applies everything, and marks events processed', async () => {
    const { reader, calls } = fakeReader({ '51': { firstname: 'Zoë', lastmodifieddate: '1790000000500', createdate: '1790000000000' } });
    await store([
      hubspotEvent({ subscriptionType: 'contact.creation', occurredAt: 1_790_000_000_000 }),
      hubspotEvent({ subscriptionType: 'contact.propertyChange', propertyName: 'email', propertyValue: 'z@example.com', occurredAt: 1_790_000_000_000 }),
      hubspotEvent({ subscriptionType: 'contact.restore', occurredAt: 1_790_000_000_200 }),
      hubspotEvent({ subscriptionType: 'contact.creation', objectId: 404, occurredAt: 1_790_000_000_000 }),
    ]);
    const result = await processWebhookBatch(deps(reader));
    expect(result).toMatchObject({ claimed: 4, processed: 4, retrying: 0, failed: 0, hydrated: 1 });
    // One batch read naming each object once (in the order the inbox stored the events, which
    // follows their dedup keys, not the order given here).
    expect(calls.map((ids) => [...ids].sort())).toEqual([['404', '51']]);
    const row = await testDb.db.selectFrom('hubspot_objects').selectAll().where('object_id', '=', '51').executeTakeFirstOrThrow();
    expect(row.properties).toMatchObject({ firstname: 'Zoë', email: 'z@example.com' });
    expect(row.archived).toBe(false);
    // The object HubSpot no longer has still gets its creation recorded.
    expect(await testDb.db.selectFrom('hubspot_objects').select('lifecycle').where('object_id', '=', '404').executeTakeFirstOrThrow()).toEqual({ lifecycle: 'live' });
    expect(await webhookStatus(testDb.db, clock)).toMatchObject({ backlog: 0, failed: 0, retrying: 0 });
    expect((await processWebhookBatch(deps(reader))).claimed).toBe(0);
  });

  it("hydration reads the hydrated records' full association sets for the job's associated types, at hydration priority, keeping their types", async () => {
    const { reader: base } = fakeReader({ '51': { firstname: 'Zoë', lastmodifieddate: '1790000000500', createdate: '1790000000000' } });
    const asked: unknown[] = [];
    const reader: HubSpotReader = {
      ...base,
      async readAssociations(portalId, objectType, toTypes, ids, priority) {
        asked.push({ portalId, objectType, toTypes, ids, priority });
        const at = new Date(clock.getTime() + 1);
        return ids.map((id) => ({
          kind: 'associationRead' as const, ref: { portalId, objectType, objectId: id }, version: 1_790_000_000_600, via: 'hydration' as const, seenAt: at,
          toObjectType: 'companies', to: [{ objectId: '77', types: [{ category: 'HUBSPOT_DEFINED', typeId: 279, label: null }, { category: 'USER_DEFINED', typeId: 9, label: 'Billing' }] }],
        }));
      },
    };
    // An edge the read does not list: removed by it.
    await testDb.db.transaction().execute((trx) =>
      applyObservations(trx, [{ kind: 'association', ref: { portalId: PORTAL, objectType: 'contacts', objectId: '51' }, toObjectType: 'companies', toObjectId: '78', removed: false, version: 1_789_000_000_000, via: 'webhook', seenAt: clock }]),
    );
    await store([hubspotEvent({ subscriptionType: 'contact.creation', occurredAt: 1_790_000_000_000 })]);
    expect(await processWebhookBatch({ ...deps(reader), associations: (_portal, type) => (type === 'contacts' ? ['companies'] : []) })).toMatchObject({ processed: 1, hydrated: 1 });
    expect(asked).toEqual([{ portalId: PORTAL, objectType: 'contacts', toTypes: ['companies'], ids: ['51'], priority: 'hydration' }]);
    const edges = await testDb.db.selectFrom('hubspot_associations').select(['to_object_id', 'removed', 'association_types']).where('from_object_id', '=', '51').orderBy('to_object_id').execute();
    expect(edges.map((e) => [e.to_object_id, e.removed])).toEqual([['77', false], ['78', true]]);
    expect((edges[0]!.association_types as { typeId: number }[]).sort((x, y) => x.typeId - y.typeId)).toEqual([{ category: 'USER_DEFINED', typeId: 9, label: 'Billing' }, { category: 'HUBSPOT_DEFINED', typeId: 279, label: null }]);
  });

  it("a primary association's removal reads the object's associations again: a pair still associated without the label stays", async () => {
    const { reader: base } = fakeReader({ '51': { firstname: 'Zoë', lastmodifieddate: '1789000000000', createdate: '1789000000000' } });
    const reader: HubSpotReader = {
      ...base,
      // HubSpot after the contact's primary company moved from 77 to 78: still associated with both.
      async readAssociations(portalId, objectType, _toTypes, ids) {
        return ids.map((id) => ({
          kind: 'associationRead' as const, ref: { portalId, objectType, objectId: id }, version: 1_790_000_000_600, via: 'hydration' as const, seenAt: clock,
          toObjectType: 'companies', to: [
            { objectId: '77', types: [{ category: 'HUBSPOT_DEFINED', typeId: 279, label: null }] },
            { objectId: '78', types: [{ category: 'HUBSPOT_DEFINED', typeId: 1, label: 'Primary' }, { category: 'HUBSPOT_DEFINED', typeId: 279, label: null }] },
          ],
        }));
      },
    };
    const change = (toObjectId: number, associationRemoved: boolean, isPrimaryAssociation: boolean) =>
      hubspotEvent({ subscriptionType: 'contact.associationChange', objectId: 51, fromObjectId: 51, toObjectId, associationType: 'CONTACT_TO_COMPANY', associationRemoved, isPrimaryAssociation, propertyName: undefined, propertyValue: undefined, occurredAt: 1_790_000_000_000 });
    await store([change(77, false, false), change(77, false, true)].map((e) => ({ ...e, occurredAt: 1_789_000_000_000 })));
    await store([change(77, true, true), change(78, false, true), change(78, false, false)]);
    const associations = (_portal: number, type: string) => (type === 'contacts' ? ['companies'] : []);
    expect(await processWebhookBatch({ ...deps(reader), associations })).toMatchObject({ processed: 5, hydrated: 1 });
    const edges = await testDb.db.selectFrom('hubspot_associations').select(['to_object_id', 'removed']).where('from_object_id', '=', '51').orderBy('to_object_id').execute();
    expect(edges.map((e) => [e.to_object_id, e.removed])).toEqual([['77', false], ['78', false]]);
  });

  it('a privacy deletion erases the stored payloads of the contact and its merged ids, late events included, and no one else', async () => {
    const payloads = async (objectId: string) =>
      (await testDb.db.selectFrom('webhook_events').select('payload').where('object_id', '=', objectId).orderBy('id').execute()).map((r) => r.payload);
    const { reader } = fakeReader({ '51': { email: 'zoe@example.com', lastmodifieddate: '1790000000400' }, '53': { lastmodifieddate: '1790000000200' } });
    await store([
      hubspotEvent({ objectId: 54, propertyValue: 'zoe.old@example.com', occurredAt: 1_789_000_000_000 }),
      hubspotEvent({ objectId: 53, propertyValue: 'zoe.older@example.com', occurredAt: 1_789_000_000_000 }),
      hubspotEvent({ objectId: 51, propertyValue: 'zoe@example.com', occurredAt: 1_790_000_000_000 }),
      hubspotEvent({ objectId: 52, propertyValue: 'yann@example.com', occurredAt: 1_790_000_000_000 }),
      // 54 was merged into 53, and 53 later into 51: one person under three ids.
      hubspotEvent({ subscriptionType: 'contact.merge', objectId: 53, primaryObjectId: 53, mergedObjectIds: [54], occurredAt: 1_790_000_000_200 }),
      hubspotEvent({ subscriptionType: 'contact.merge', objectId: 51, primaryObjectId: 51, mergedObjectIds: [53], occurredAt: 1_790_000_000_400 }),
    ]);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ processed: 6, failed: 0 });
    expect(JSON.stringify(await payloads('54'))).toContain('zoe.old@example.com');

    await store([hubspotEvent({ subscriptionType: 'contact.privacyDeletion', objectId: 51, propertyName: undefined, propertyValue: undefined, occurredAt: 1_790_000_001_000 })]);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ processed: 1 });
    expect(await payloads('51')).toEqual([ERASED_PAYLOAD, ERASED_PAYLOAD, ERASED_PAYLOAD]);
    expect(await payloads('53')).toEqual([ERASED_PAYLOAD, ERASED_PAYLOAD]);
    expect(await payloads('54')).toEqual([ERASED_PAYLOAD]);

    // A change HubSpot delivers late keeps its value only until it is applied (and erased, as the mirror's is).
    await store([hubspotEvent({ objectId: 51, propertyName: 'phone', propertyValue: '+33 6 12 34 56 78', occurredAt: 1_790_000_000_500 })]);
    expect(JSON.stringify(await payloads('51'))).toContain('+33 6 12 34 56 78');
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ processed: 1 });
    expect(await payloads('51')).toEqual([ERASED_PAYLOAD, ERASED_PAYLOAD, ERASED_PAYLOAD, ERASED_PAYLOAD]);

    const mirrored = await testDb.db.selectFrom('hubspot_objects').select(['object_id', 'properties']).orderBy('object_id').execute();
    expect(mirrored).toEqual([
      { object_id: '51', properties: {} },
      { object_id: '52', properties: { email: 'yann@example.com' } },
      { object_id: '53', properties: {} },
      { object_id: '54', properties: {} },
    ]);
    expect(JSON.stringify(await payloads('52'))).toContain('yann@example.com');
  });

  it('retries a failed hydration with backoff and applies the rest of the batch meanwhile', async () => {
    const { reader, failNext } = fakeReader({ '51': { firstname: 'Zoë', lastmodifieddate: '1790000000500' } });
    await store([hubspotEvent({ subscriptionType: 'contact.creation' }), hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 60 })]);
    failNext(1);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 2, processed: 1, retrying: 1 });
    const waiting = await testDb.db.selectFrom('webhook_events').selectAll().where('processed_at', 'is', null).executeTakeFirstOrThrow();
    expect(waiting).toMatchObject({ attempts: 1, error: 'hydration failed: 429 TEN_SECONDLY_ROLLING' });
    expect(waiting.next_attempt_at.getTime() - clock.getTime()).toBe(1000);
    expect(await webhookStatus(testDb.db, new Date(clock.getTime() + 30_000))).toMatchObject({ backlog: 1, retrying: 1, oldestUnprocessedSeconds: 30 });
    // Not due yet.
    expect((await processWebhookBatch(deps(reader))).claimed).toBe(0);
    clock = new Date(clock.getTime() + 1000);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 1, processed: 1 });
    expect(await testDb.db.selectFrom('hubspot_objects').select('properties').where('object_id', '=', '51').executeTakeFirstOrThrow()).toEqual({
      properties: { firstname: 'Zoë', lastmodifieddate: '1790000000500' },
    });
  });

  it('a read that does not come (the rate budget paused) holds back only the events that need it, until half the lease', async () => {
    // A reader that waits for ever, as a budget paused until midnight would, but gives up when told to.
    const reader: HubSpotReader = {
      batchRead: (_portal, _type, _ids, _properties, _priority, signal) =>
        new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(new Error('gave up waiting')), { once: true })),
    };
    await store([
      hubspotEvent({ subscriptionType: 'contact.creation', objectId: 61, occurredAt: 1_790_000_000_000 }),
      hubspotEvent({ subscriptionType: 'contact.propertyChange', objectId: 62, propertyName: 'email', propertyValue: 'p@example.com', occurredAt: 1_790_000_000_100 }),
      hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 63, occurredAt: 1_790_000_000_200 }),
    ]);
    const result = await processWebhookBatch(deps(reader, { leaseSeconds: 1 }));
    expect(result).toMatchObject({ claimed: 3, processed: 2, retrying: 1, failed: 0 });
    const rows = await testDb.db.selectFrom('webhook_events').select(['object_id', 'processed_at', 'error']).orderBy('object_id').execute();
    expect(rows.map((r) => [r.object_id, r.processed_at !== null, r.error])).toEqual([
      ['61', false, expect.stringContaining('hydration failed: gave up waiting')],
      ['62', true, null],
      ['63', true, null],
    ]);
    const mirrored = await testDb.db.selectFrom('hubspot_objects').select(['object_id', 'properties', 'lifecycle']).orderBy('object_id').execute();
    expect(mirrored).toEqual([
      { object_id: '62', properties: { email: 'p@example.com' }, lifecycle: null },
      { object_id: '63', properties: {}, lifecycle: 'deleted' },
    ]);
  });

  it('events needing a read while the account is paused for hours wait for its end, their attempts intact', async () => {
    const { reader: objects, calls } = fakeReader({ '71': { firstname: 'Ada', lastmodifieddate: '1790000000000' } });
    let pausedUntil: number | undefined = clock.getTime() + 3 * 3600_000;
    const reader: HubSpotReader = { batchRead: objects.batchRead, pausedUntil: () => pausedUntil };
    await store([
      hubspotEvent({ subscriptionType: 'contact.creation', objectId: 71, occurredAt: 1_790_000_000_000 }),
      hubspotEvent({ subscriptionType: 'contact.propertyChange', objectId: 72, propertyName: 'email', propertyValue: 'q@example.com', occurredAt: 1_790_000_000_100 }),
    ]);
    // Many more rounds than maxAttempts (3) while paused: the event is never given up.
    for (let round = 0; round < 5; round++) {
      const result = await processWebhookBatch(deps(reader));
      expect(result).toMatchObject(round === 0 ? { claimed: 2, processed: 1, deferred: 1, retrying: 0, failed: 0 } : { claimed: 0 });
      clock = new Date(clock.getTime() + 30 * 60_000);
    }
    expect(calls).toEqual([]);
    const waiting = await testDb.db.selectFrom('webhook_events').selectAll().where('object_id', '=', '71').executeTakeFirstOrThrow();
    expect(waiting).toMatchObject({ attempts: 0, processed_at: null, failed_at: null, next_attempt_at: new Date(pausedUntil) });
    expect(waiting.error).toContain("HubSpot account's pause");

    clock = new Date(pausedUntil);
    pausedUntil = undefined;
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 1, processed: 1, hydrated: 1, deferred: 0 });
    expect(calls).toEqual([['71']]);
  });

  it('gives up after maxAttempts and shows the event as failed', async () => {
    const { reader, failNext } = fakeReader({});
    await store([hubspotEvent({ subscriptionType: 'contact.creation' })]);
    failNext(10);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect((await processWebhookBatch(deps(reader))).claimed).toBe(1);
      clock = new Date(clock.getTime() + 60_000);
    }
    expect((await processWebhookBatch(deps(reader))).claimed).toBe(0);
    expect(await webhookStatus(testDb.db, clock)).toMatchObject({ backlog: 0, failed: 1 });
    // The operator redrives it once HubSpot answers again.
    failNext(0);
    expect(await retryFailedWebhookEvents(testDb.db, clock)).toBe(1);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 1, processed: 1 });
    expect(await webhookStatus(testDb.db, clock)).toMatchObject({ backlog: 0, failed: 0 });
  });

  it('a claimed event whose worker died is claimed again after the lease', async () => {
    await store([hubspotEvent({ subscriptionType: 'contact.deletion' })]);
    const row = await testDb.db.updateTable('webhook_events').set({ attempts: 1, next_attempt_at: new Date(clock.getTime() + 120_000) }).returning('id').executeTakeFirstOrThrow();
    expect((await processWebhookBatch(deps())).claimed).toBe(0);
    clock = new Date(clock.getTime() + 120_000);
    expect(await processWebhookBatch(deps())).toMatchObject({ claimed: 1, processed: 1 });
    expect(await testDb.db.selectFrom('webhook_events').select('attempts').where('id', '=', row.id).executeTakeFirstOrThrow()).toEqual({ attempts: 2 });
  });

  it('an event whose every attempt was abandoned (a poison event) is given up, not claimed forever', async () => {
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 66 })]);
    // Three claims whose workers never reported back, the last lease now expired.
    await testDb.db.updateTable('webhook_events').set({ attempts: 3, next_attempt_at: clock }).execute();
    expect((await processWebhookBatch(deps())).claimed).toBe(0);
    expect(await failAbandonedWebhookEvents(testDb.db, clock, 3)).toBe(1);
    const row = await testDb.db.selectFrom('webhook_events').select(['failed_at', 'error']).executeTakeFirstOrThrow();
    expect(row.failed_at).toEqual(clock);
    expect(row.error).toMatch(/abandoned/);
    expect(await webhookStatus(testDb.db, clock)).toMatchObject({ backlog: 0, failed: 1 });
  });

  it('an event that needs no read is claimed, applied and marked in one write; only one waiting on a read is leased', async () => {
    const { reader } = fakeReader({ '52': { firstname: 'Ana', lastmodifieddate: '1790000000500', createdate: '1790000000000' } });
    await store([
      hubspotEvent({ subscriptionType: 'contact.propertyChange', objectId: 51, propertyValue: 'one@example.com' }),
      hubspotEvent({ subscriptionType: 'contact.creation', objectId: 52 }),
    ]);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 2, processed: 2, hydrated: 1 });
    const rows = await testDb.db.selectFrom('webhook_events').select(['object_id', 'attempts', 'next_attempt_at', 'processed_at']).orderBy('object_id').execute();
    const lease = new Date(clock.getTime() + testConfig().webhooks.leaseSeconds * 1000);
    expect(rows).toEqual([
      // Never leased: its due time is still the receipt's.
      { object_id: '51', attempts: 1, next_attempt_at: clock, processed_at: clock },
      { object_id: '52', attempts: 1, next_attempt_at: lease, processed_at: clock },
    ]);
  });

  it("an association to a custom type the portal's schemas have not named yet is retried, not given up", async () => {
    // The first lookup starts reading the portal's schemas and knows nothing yet; later ones know the type.
    let lookups = 0;
    const reader: HubSpotReader = {
      batchRead: async (_portal, _type, ids) => ({ results: [], missing: [...ids] }),
      objectType: (_portal, name) => (lookups++ === 0 ? undefined : name === 'PROJECT' ? '2-3465' : undefined),
    };
    await store([hubspotEvent({ subscriptionType: 'company.associationChange', objectId: 81, fromObjectId: 81, toObjectId: 91, associationType: 'COMPANY_TO_PROJECT', propertyName: undefined, propertyValue: undefined })]);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 1, processed: 0, retrying: 1, failed: 0 });
    const waiting = await testDb.db.selectFrom('webhook_events').select(['attempts', 'failed_at', 'error', 'next_attempt_at']).executeTakeFirstOrThrow();
    expect(waiting).toMatchObject({ attempts: 1, failed_at: null, error: expect.stringContaining('unknown in portal') });
    expect(waiting.next_attempt_at.getTime() - clock.getTime()).toBe(1000);
    clock = new Date(clock.getTime() + 1000);
    expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 1, processed: 1 });
    const edge = await testDb.db.selectFrom('hubspot_associations').select(['from_object_type', 'to_object_type', 'to_object_id', 'removed']).where('from_object_id', '=', '81').executeTakeFirstOrThrow();
    expect(edge).toEqual({ from_object_type: 'companies', to_object_type: '2-3465', to_object_id: '91', removed: false });
  });

  it('a batch whose transaction fails is claimed again with a lease and applied event by event', async () => {
    // A mirror write that fails for one object only (as a constraint or a bad value would).
    await sql`create function refuse_object_13() returns trigger language plpgsql as $$
      begin if new.object_id = '13' then raise exception 'refused object 13'; end if; return new; end $$`.execute(testDb.db);
    await sql`create trigger refuse_13 before update on hubspot_objects for each row execute function refuse_object_13()`.execute(testDb.db);
    try {
      await store([11, 12, 13].map((objectId) => hubspotEvent({ objectId, propertyValue: `${objectId}@example.com` })));
      expect(await processWebhookBatch(deps())).toMatchObject({ claimed: 3, processed: 2, retrying: 1, failed: 0 });
      const rows = await testDb.db.selectFrom('webhook_events').select(['object_id', 'attempts', 'processed_at', 'error']).orderBy('object_id').execute();
      expect(rows.map((r) => [r.object_id, r.attempts, r.processed_at !== null])).toEqual([
        ['11', 1, true],
        ['12', 1, true],
        ['13', 1, false],
      ]);
      expect(rows[2]!.error).toMatch(/apply failed: .*refused object 13/);
    } finally {
      await sql`drop trigger refuse_13 on hubspot_objects`.execute(testDb.db);
      await sql`drop function refuse_object_13()`.execute(testDb.db);
    }
  });

  it('a batch of hydrated events whose transaction fails gives each event its own read when applied one by one', async () => {
    await sql`create function refuse_object_33() returns trigger language plpgsql as $$
      begin if new.object_id = '33' then raise exception 'refused object 33'; end if; return new; end $$`.execute(testDb.db);
    await sql`create trigger refuse_33 before insert or update on hubspot_objects for each row execute function refuse_object_33()`.execute(testDb.db);
    try {
      const read = (id: number) => ({ firstname: `Read ${id}`, lastmodifieddate: '1790000000500', createdate: '1790000000000' });
      const { reader, calls } = fakeReader({ '31': read(31), '32': read(32), '33': read(33) });
      await store([31, 32, 33].map((objectId) => hubspotEvent({ subscriptionType: 'contact.creation', objectId, occurredAt: 1_790_000_000_000 })));
      expect(await processWebhookBatch(deps(reader))).toMatchObject({ claimed: 3, processed: 2, retrying: 1, failed: 0, hydrated: 3 });
      expect(calls.map((ids) => [...ids].sort())).toEqual([['31', '32', '33']]);
      const objects = await testDb.db.selectFrom('hubspot_objects').select(['object_id', 'properties']).where('object_id', 'in', ['31', '32', '33']).orderBy('object_id').execute();
      expect(objects.map((o) => [o.object_id, o.properties.firstname])).toEqual([
        ['31', 'Read 31'],
        ['32', 'Read 32'],
      ]);
      const refused = await testDb.db.selectFrom('webhook_events').select(['processed_at', 'error']).where('object_id', '=', '33').executeTakeFirstOrThrow();
      expect(refused).toMatchObject({ processed_at: null, error: expect.stringMatching(/apply failed: .*refused object 33/) });
    } finally {
      await sql`drop trigger refuse_33 on hubspot_objects`.execute(testDb.db);
      await sql`drop function refuse_object_33()`.execute(testDb.db);
    }
  });

  it('several workers on one database process every event exactly once', async () => {
    const events = Array.from({ length: 600 }, (_, i) => hubspotEvent({ subscriptionType: 'contact.propertyChange', objectId: 1000 + (i % 50), propertyValue: `v${i}`, occurredAt: 1_790_000_000_000 + i }));
    for (let i = 0; i < events.length; i += 100) await store(events.slice(i, i + 100));
    const seen: number[] = [];
    const worker = async () => {
      for (;;) {
        const result = await processWebhookBatch(deps(undefined, { processBatchSize: 40 }));
        seen.push(result.processed);
        if (result.claimed === 0) return;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(600);
    const counts = await testDb.db.selectFrom('webhook_events').select(['attempts']).execute();
    expect(counts.every((c) => c.attempts === 1)).toBe(true);
    const objects = await testDb.db.selectFrom('hubspot_objects').select(['object_id', 'properties']).where('object_id', '=', '1049').executeTakeFirstOrThrow();
    expect(objects.properties.email).toBe('v599');
  });
});

describe('service', () => {
  it('reports the backlog on its own schedule while every batch is full', async () => {
    await store(Array.from({ length: 20 }, (_, i) => hubspotEvent({ subscriptionType: 'contact.creation', objectId: 6000 + i })));
    // Every batch is full and its hydration read never returns: no batch ends while the test looks.
    const { reader, reads, release } = heldReader({});
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(reader, { processBatchSize: 5 }), metrics, now: () => new Date(), intervalMs: 10_000, statusIntervalMs: 0 });
    await service.start();
    try {
      await waitFor(() => reads() === 1);
      await waitFor(() => metrics.snapshot().gauges['webhook.backlog'] === 20);
    } finally {
      release();
      await service.stop();
    }
  });

  it('with several batches in flight, applies every event once, and idle() waits for the batches still in flight', async () => {
    const events = Array.from({ length: 600 }, (_, i) => hubspotEvent({ subscriptionType: 'contact.propertyChange', objectId: 1000 + (i % 50), propertyValue: `v${i}`, occurredAt: 1_790_000_000_000 + i }));
    for (let i = 0; i < events.length; i += 100) await store(events.slice(i, i + 100));
    const { reader, reads, release } = heldReader({ firstname: 'Ada', lastmodifieddate: '1790000009000', createdate: '1790000009000' });
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(reader, { processBatchSize: 40 }), metrics, now: () => new Date(), intervalMs: 600_000, listen: testDb.listen, concurrency: 3 });
    await service.start();
    try {
      await service.idle();
      expect(metrics.counter('webhook.events.processed')).toBe(600);
      const rows = await testDb.db.selectFrom('webhook_events').select(['attempts', 'processed_at']).execute();
      expect(rows.every((r) => r.attempts === 1 && r.processed_at !== null)).toBe(true);
      const last = await testDb.db.selectFrom('hubspot_objects').select('properties').where('object_id', '=', '1049').executeTakeFirstOrThrow();
      expect(last.properties.email).toBe('v599');

      // One lane waits on a read; the others find nothing to claim. idle() must wait for that batch.
      await store([hubspotEvent({ subscriptionType: 'contact.creation', objectId: 1100 })]);
      await waitFor(() => reads() === 1);
      let idle = false;
      const idled = service.idle().then(() => (idle = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(idle).toBe(false);
      release();
      await idled;
      const created = await testDb.db.selectFrom('hubspot_objects').select('properties').where('object_id', '=', '1100').executeTakeFirstOrThrow();
      expect(created.properties.firstname).toBe('Ada');
    } finally {
      release();
      await service.stop();
    }
  });

  it('starts on newly stored events at once when it listens, not at its idle poll', async () => {
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(), metrics, now: () => new Date(), intervalMs: 600_000, listen: testDb.listen });
    await service.start();
    try {
      // A batch has found nothing; the next idle poll is ten minutes away.
      await service.idle();
      await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 7001 })]);
      await waitFor(() => metrics.counter('webhook.events.processed') === 1);
    } finally {
      await service.stop();
    }
  });

  it('while a receiver reports a flood, works one batch at a time and rests between batches; at full speed again once the flood is over', async () => {
    let gate = Promise.withResolvers<void>();
    let reads = 0;
    const reader: HubSpotReader = {
      async batchRead(_portal, _type, ids) {
        reads += 1;
        await gate.promise;
        return { results: ids.map((id) => ({ id, properties: { firstname: 'Ada', lastmodifieddate: '1790000009000', createdate: '1790000009000' } })), missing: [] };
      },
    };
    const { listen, stop: stopFlooding } = floodReports();
    const { log: floodLog, lines } = captureLogger();
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(reader, { processBatchSize: 1 }), log: floodLog, metrics, now: () => new Date(), intervalMs: 600_000, listen, concurrency: 2, floodShare: 0.25 });
    try {
      await store([8001, 8002].map((objectId) => hubspotEvent({ subscriptionType: 'contact.creation', objectId })));
      await service.start();
      // One batch waits on its read; the other lane does not claim the second event meanwhile.
      await waitFor(() => reads > 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(reads).toBe(1);
      gate.resolve();
      await waitFor(() => metrics.counter('webhook.events.processed') === 2);
      // The first batch took at least 300 ms: at a share of 0.25 the lane rested three times as long.
      expect(metrics.counter('webhook.processor.rested_ms')).toBeGreaterThanOrEqual(900);
      expect(lines().some((line) => line.msg === 'receivers flooded: processing one batch at a time, resting between batches')).toBe(true);

      stopFlooding();
      // The last change the worker logged is the flood's end (on a busy machine a late report can end and restart it before).
      const transitions = () => lines().filter((line) => typeof line.msg === 'string' && /^(receivers flooded|flood over)/.test(line.msg));
      await waitFor(() => transitions().at(-1)?.msg === 'flood over: processing at full speed');
      gate = Promise.withResolvers<void>();
      const rested = metrics.counter('webhook.processor.rested_ms');
      await store([8003, 8004].map((objectId) => hubspotEvent({ subscriptionType: 'contact.creation', objectId })));
      // Both lanes claim: two reads wait at once.
      await waitFor(() => reads === 4).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}: ${reads} reads, transitions ${JSON.stringify(transitions().map((line) => line.msg))}`);
      });
      gate.resolve();
      await waitFor(() => metrics.counter('webhook.events.processed') === 4);
      expect(metrics.counter('webhook.processor.rested_ms')).toBe(rested);
    } finally {
      stopFlooding();
      gate.resolve();
      await service.stop();
    }
  });

  it("working alone in a flood, takes the oldest events first, not its own share's", async () => {
    // Two objects whose events fall to different lanes of two: the older one's to the lane that rests in a flood.
    const [zero, one] = await contactsByLane(8201, 40);
    const [older, ownShare] = [one[0]!, zero[0]!];
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: older })]);
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: ownShare })]);
    const { listen, stop: stopFlooding } = floodReports();
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(undefined, { processBatchSize: 1 }), metrics, now: () => new Date(), intervalMs: 600_000, listen, concurrency: 2, floodShare: 0.25 });
    try {
      await service.start();
      await waitFor(() => metrics.counter('webhook.events.processed') === 2);
      const rows = await testDb.db.selectFrom('webhook_events').select(['object_id', 'processed_at']).execute();
      const at = (objectId: number) => rows.find((row) => row.object_id === String(objectId))!.processed_at!.getTime();
      expect(at(older)).toBeLessThan(at(ownShare));
    } finally {
      stopFlooding();
      await service.stop();
    }
  });

  it("at least every frontEveryMs, a claim takes the oldest events whatever their share: a lane waiting on reads does not hold its share's back", async () => {
    // Of two lanes: a creation and a deletion in lane 0's share, 300 deletions in lane 1's.
    const [zero, one] = await contactsByLane(9001, 1200);
    const [created, deleted, others] = [zero[0]!, zero[1]!, one.slice(0, 300)];
    await store([hubspotEvent({ subscriptionType: 'contact.creation', objectId: created })]);
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: deleted })]);
    await store(others.map((objectId) => hubspotEvent({ subscriptionType: 'contact.deletion', objectId })));
    // Lane 0 claims the creation (the oldest of its share) and waits on its read.
    const gate = Promise.withResolvers<void>();
    const reader: HubSpotReader = {
      async batchRead(_portal, _type, ids) {
        await gate.promise;
        return { results: ids.map((id) => ({ id, properties: { lastmodifieddate: '1790000009000', createdate: '1790000009000' } })), missing: [] };
      },
    };
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(reader, { processBatchSize: 1 }), metrics, now: () => new Date(), intervalMs: 5, concurrency: 2, frontEveryMs: 100 });
    try {
      await service.start();
      await waitFor(() => metrics.counter('webhook.events.processed') === 301);
      const rows = await testDb.db.selectFrom('webhook_events').select(['object_id', 'processed_at']).where('processed_at', 'is not', null).execute();
      const at = new Map(rows.map((row) => [row.object_id, row.processed_at!.getTime()]));
      // Without the front claims lane 1 would take the deletion only once its own share ran out.
      expect(others.filter((id) => at.get(String(id))! > at.get(String(deleted))!).length).toBeGreaterThan(0);
      expect(at.has(String(created))).toBe(false);
    } finally {
      gate.resolve();
      await service.stop();
    }
  });

  it('rests for no report but a flood: a quiet receiver, an empty or a foreign payload', async () => {
    let report: (payload: string) => void = () => undefined;
    const listen: Listen = async (channel, onNotify) => {
      report = onNotify;
      return testDb.listen(channel, onNotify);
    };
    const metrics = new Metrics();
    const service = createProcessorService({ ...deps(undefined, { processBatchSize: 1 }), metrics, now: () => new Date(), intervalMs: 600_000, listen, concurrency: 2, floodShare: 0.25 });
    await service.start();
    try {
      for (const payload of [loadPayload(0.3), '', 'busy=', 'busy=high', '{"busy":0.9}']) report(payload);
      await store([8101, 8102, 8103].map((objectId) => hubspotEvent({ subscriptionType: 'contact.deletion', objectId })));
      await waitFor(() => metrics.counter('webhook.events.processed') === 3);
      await service.idle();
      expect(metrics.counter('webhook.processor.rested_ms')).toBe(0);
    } finally {
      await service.stop();
    }
  });

  it('leases its first claim after a start, so a batch that kills the process still counts an attempt', async () => {
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 7101 })]);
    const service = createProcessorService({ ...deps(), now: () => new Date(), intervalMs: 600_000 });
    await service.start();
    await service.idle();
    await service.stop();
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 7102 })]);
    // A batch in one transaction next, as a running worker claims.
    expect(await processWebhookBatch(deps())).toMatchObject({ claimed: 1, processed: 1 });
    const rows = await testDb.db.selectFrom('webhook_events').select(['object_id', 'attempts', 'received_at', 'next_attempt_at']).orderBy('object_id').execute();
    expect(rows.map((r) => [r.object_id, r.attempts, r.next_attempt_at > r.received_at])).toEqual([
      ['7101', 1, true],
      ['7102', 1, false],
    ]);
  });

  it('after a batch that threw, claims lease again, so a batch that keeps failing with a database error uses up its attempts', async () => {
    // The mirror write of one object times out every time (as a statement over statement_timeout would).
    await sql`create function cancel_object_7202() returns trigger language plpgsql as $$
      begin if new.object_id = '7202' then raise exception 'canceling statement due to statement timeout' using errcode = 'query_canceled'; end if; return new; end $$`.execute(testDb.db);
    await sql`create trigger cancel_7202 before insert or update on hubspot_objects for each row execute function cancel_object_7202()`.execute(testDb.db);
    const service = createProcessorService({ ...deps(), intervalMs: 5, statusIntervalMs: 0 });
    try {
      await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 7201 })]);
      await service.start();
      // The first claim after the start succeeds: later claims apply in one transaction.
      await service.idle();
      await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 7202 })]);
      const leaseMs = testConfig().webhooks.leaseSeconds * 1000;
      // Each failure is followed by a leased claim (an attempt), due again once its lease has passed.
      const parked = await waitFor(async () => {
        clock = new Date(clock.getTime() + leaseMs);
        const row = await testDb.db.selectFrom('webhook_events').select(['attempts', 'failed_at', 'error']).where('object_id', '=', '7202').executeTakeFirstOrThrow();
        return row.failed_at !== null && row;
      });
      expect(parked).toMatchObject({ attempts: 3, error: expect.stringMatching(/abandoned/) });
    } finally {
      await service.stop();
      await sql`drop trigger cancel_7202 on hubspot_objects`.execute(testDb.db);
      await sql`drop function cancel_object_7202()`.execute(testDb.db);
    }
  });

  it('idle() waits for the events a batch that threw left leased, until their lease ends and they are applied', async () => {
    // The first mirror write of one object times out (its claim, a lease, has committed by then).
    // A sequence, not a table: the raise rolls back the transaction, not nextval.
    await sql`create sequence cancel_once`.execute(testDb.db);
    await sql`create function cancel_object_7301() returns trigger language plpgsql as $$
      begin
        if new.object_id = '7301' then
          if nextval('cancel_once') = 1 then raise exception 'canceling statement due to statement timeout' using errcode = 'query_canceled'; end if;
        end if;
        return new;
      end $$`.execute(testDb.db);
    await sql`create trigger cancel_7301 before insert or update on hubspot_objects for each row execute function cancel_object_7301()`.execute(testDb.db);
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 7301 })]);
    const service = createProcessorService({ ...deps(), intervalMs: 5, statusIntervalMs: 600_000 });
    try {
      await service.start();
      let idle = false;
      const idled = service.idle().then(() => (idle = true));
      // The leased batch threw; the batches after it find nothing due while the lease lasts.
      await waitFor(async () => (await sql<{ is_called: boolean }>`select is_called from cancel_once`.execute(testDb.db)).rows[0]!.is_called);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(idle).toBe(false);
      const leased = await testDb.db.selectFrom('webhook_events').select(['attempts', 'processed_at']).where('object_id', '=', '7301').executeTakeFirstOrThrow();
      expect(leased).toEqual({ attempts: 1, processed_at: null });
      clock = new Date(clock.getTime() + testConfig().webhooks.leaseSeconds * 1000);
      await idled;
      const done = await testDb.db.selectFrom('webhook_events').select(['attempts', 'processed_at']).where('object_id', '=', '7301').executeTakeFirstOrThrow();
      expect(done).toMatchObject({ attempts: 2, processed_at: expect.any(Date) });
    } finally {
      await service.stop();
      await sql`drop trigger cancel_7301 on hubspot_objects`.execute(testDb.db);
      await sql`drop function cancel_object_7301()`.execute(testDb.db);
      await sql`drop sequence cancel_once`.execute(testDb.db);
    }
  });

  it('retention deletes old processed events from the start of the inbox, never a recent, pending or failed one', async () => {
    const day = 24 * 3_600_000;
    const now = clock.getTime();
    const at = (ms: number, objectId: number) => {
      clock = new Date(ms);
      return store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    };
    await at(now - 9 * day, 1); // old, processed: deleted
    await at(now - 9 * day, 2); // old, failed: kept
    await at(now - 8 * day, 3); // old, pending: kept
    await at(now - 8 * day, 4); // old, processed: deleted
    await at(now - 1 * day, 5); // recent, processed: kept
    await at(now - 8 * day, 6); // old, but stored after a recent one (a slow request): left for the next prune
    await testDb.db.updateTable('webhook_events').set({ processed_at: new Date(now) }).where('object_id', 'in', ['1', '4', '5', '6']).execute();
    await testDb.db.updateTable('webhook_events').set({ failed_at: new Date(now), error: 'gave up' }).where('object_id', '=', '2').execute();
    const before = new Date(now - 7 * day);
    expect(await pruneWebhookEvents(testDb.db, before, 1)).toBe(1);
    expect(await pruneWebhookEvents(testDb.db, before, 10)).toBe(1);
    expect(await pruneWebhookEvents(testDb.db, before, 10)).toBe(0);
    const left = await testDb.db.selectFrom('webhook_events').select('object_id').orderBy('id').execute();
    expect(left.map((r) => r.object_id)).toEqual(['2', '3', '5', '6']);
    // Once the recent event is gone too, the late old one goes with the next prune.
    expect(await pruneWebhookEvents(testDb.db, new Date(now), 10)).toBe(2);
  });

  it('runs batches until idle, prunes old processed events, and stops cleanly', async () => {
    const { reader } = fakeReader({});
    const now = new Date();
    clock = new Date(now.getTime() - 200 * 3_600_000);
    await store(Array.from({ length: 12 }, (_, i) => hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 3000 + i })));
    // An old event that failed for good is kept for the operator.
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 3999 })]);
    const gaveUp = await testDb.db.selectFrom('webhook_events').select('id').where('object_id', '=', '3999').executeTakeFirstOrThrow();
    await markWebhookEventsFailed(testDb.db, [{ id: gaveUp.id, error: 'gave up', retryAt: null }], clock);
    // Quarantined events, one old and one recent: only the recent one stays.
    await store([hubspotEvent({ subscriptionType: 'contact.propertyChange', propertyName: undefined, objectId: 5001 })]);
    clock = now;
    await store([hubspotEvent({ subscriptionType: 'contact.propertyChange', propertyName: undefined, objectId: 5002 })]);
    await store(Array.from({ length: 30 }, (_, i) => hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 2000 + i })));
    const metrics = new Metrics();
    const service = createProcessorService({
      ...deps(reader, { processBatchSize: 7 }),
      metrics,
      now: () => new Date(),
      intervalMs: 10_000,
      statusIntervalMs: 0,
      retentionHours: 168,
      pruneIntervalMs: 0,
    });
    await service.start();
    await service.idle();
    expect(await webhookStatus(testDb.db)).toMatchObject({ backlog: 0, failed: 1 });
    expect(metrics.counter('webhook.events.processed')).toBe(42);
    // Housekeeping runs on its own schedule: the gauge and the retention catch up.
    await waitFor(() => metrics.snapshot().gauges['webhook.backlog'] === 0);
    const left = await waitFor(async () => {
      const rows = await testDb.db.selectFrom('webhook_events').select('object_id').execute();
      return rows.length === 31 && rows;
    });
    expect(left.map((r) => r.object_id)).toContain('3999');
    const quarantined = await waitFor(async () => {
      const rows = await testDb.db.selectFrom('webhook_quarantine').select('raw').execute();
      return rows.length === 1 && rows;
    });
    expect(quarantined.map((q) => (q.raw as { objectId: number }).objectId)).toEqual([5002]);
    // Events stored after an idle() call are processed before the next idle() resolves.
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 4000 })]);
    await service.idle();
    expect(await webhookStatus(testDb.db)).toMatchObject({ backlog: 0 });
    await service.stop();
  });
});
