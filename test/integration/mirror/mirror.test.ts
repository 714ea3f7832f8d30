import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { getObject, toMirrorObject } from '../../../src/mirror/store.ts';
import { listAssociations, toAssociationState } from '../../../src/mirror/edge-store.ts';
import { associationKey, readKey, type AssociationRead, type AssociationState } from '../../../src/mirror/edges.ts';
import { ledgerReport, missedByWebhook } from '../../../src/mirror/ledger-store.ts';
import { snapshotFromObject } from '../../../src/hubspot/objects.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import { ledgerChangeKey, type LedgerChange } from '../../../src/mirror/ledger.ts';
import { objectKey, type Observation, type Via } from '../../../src/mirror/observation.ts';
import { isArchived } from '../../../src/mirror/rule.ts';
import type { MirrorObject } from '../../../src/mirror/registers.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { deliveryArb, historyArb } from '../../unit/mirror/arbitraries.ts';
import { applyBatches as pureBatches, inOrder } from '../../unit/mirror/model.ts';

const testDb = useTestDb();

let nextPortal = 1_000;
/** The same history under a portal of its own, so runs never see each other's rows. */
function onPortal(history: Observation[], portalId: number): Observation[] {
  return history.map((obs) => ({ ...obs, ref: { ...obs.ref, portalId } }));
}

/** Ledger rows the pure rule produces for batches applied in this order. */
function pureLedger(batches: Observation[][]): LedgerChange[] {
  return [...pureBatches(batches).ledger.values()].sort((a, b) => (ledgerChangeKey(a) < ledgerChangeKey(b) ? -1 : 1));
}

async function storedLedger(portalId: number): Promise<LedgerChange[]> {
  const rows = await testDb.db.selectFrom('change_ledger').selectAll().where('portal_id', '=', portalId).execute();
  const ms = (d: Date | null) => (d === null ? undefined : d.getTime());
  return rows
    .map((r): LedgerChange => {
      const seenAt = { webhook: ms(r.seen_by_webhook_at), poll: ms(r.seen_by_poll_at), hydration: ms(r.seen_by_hydration_at), workflow: ms(r.seen_by_workflow_at), paragon: ms(r.seen_by_paragon_at), journal: ms(r.seen_by_journal_at) };
      return {
        portalId: Number(r.portal_id),
        objectType: r.object_type,
        objectId: r.object_id,
        property: r.property,
        version: r.occurred_at.getTime(),
        firstSeenVia: r.first_seen_via as Via,
        firstSeenAt: r.first_seen_at.getTime(),
        seenAt: Object.fromEntries(Object.entries(seenAt).filter(([, at]) => at !== undefined)),
        confirmOnly: false,
      };
    })
    .sort((a, b) => (ledgerChangeKey(a) < ledgerChangeKey(b) ? -1 : 1));
}

function sortByKey<T extends MirrorObject | AssociationState | AssociationRead>(items: T[]): T[] {
  const key = (item: T) => ('readAt' in item ? readKey(item) : 'objectId' in item ? objectKey(item) : associationKey(item));
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function storedReads(portalId: number): Promise<AssociationRead[]> {
  const rows = await testDb.db.selectFrom('hubspot_association_reads').selectAll().where('portal_id', '=', portalId).execute();
  return rows.map((r) => ({ portalId: Number(r.portal_id), objectType: r.object_type, objectId: r.object_id, toObjectType: r.to_object_type, readAt: r.read_at.getTime() }));
}

async function applyBatches(batches: Observation[][]): Promise<void> {
  for (const batch of batches) await testDb.db.transaction().execute((trx) => applyObservations(trx, batch));
}

/** Mirror rows of one portal, minus what legitimately differs between deliveries (the portal, write times, which path came first). */
async function mirrorState(portalId: number) {
  const objects = await sql<Record<string, unknown>>`
    select object_type, object_id, properties, property_versions, archived, merged_into, merged_at, lifecycle,
      lifecycle_at, privacy_deleted_at, gone_at, hs_created_at, hs_updated_at, first_seen_at
    from hubspot_objects where portal_id = ${portalId} order by object_type, object_id`.execute(testDb.db);
  const associations = await sql<Record<string, unknown>>`
    select from_object_type, from_object_id, to_object_type, to_object_id, association_type, removed, version, association_types, types_version
    from hubspot_associations where portal_id = ${portalId}
    order by from_object_type, from_object_id, to_object_type, to_object_id`.execute(testDb.db);
  const reads = await sql<Record<string, unknown>>`
    select object_type, object_id, to_object_type, read_at from hubspot_association_reads where portal_id = ${portalId}
    order by object_type, object_id, to_object_type`.execute(testDb.db);
  return { objects: objects.rows, associations: associations.rows, reads: reads.rows };
}

describe(`mirror on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('any delivery (order, duplicates, batches, webhook/journal/poll split) gives the in-order mirror', async () => {
    await fc.assert(
      fc.asyncProperty(
        historyArb().chain((history) =>
          fc.tuple(
            fc.constant(history),
            deliveryArb(history),
            fc.array(fc.constantFrom<Via>('webhook', 'journal', 'poll'), { minLength: history.length * 2, maxLength: history.length * 2 }),
          ),
        ),
        async ([history, batches, paths]) => {
          const expectedPortal = nextPortal++;
          const actualPortal = nextPortal++;
          await applyBatches(onPortal(history, expectedPortal).map((obs) => [obs]));
          // The stored rows are exactly what the pure rule computes for the same history.
          const model = inOrder(onPortal(history, expectedPortal));
          const stored = await testDb.db.selectFrom('hubspot_objects').selectAll().where('portal_id', '=', expectedPortal).execute();
          expect(sortByKey(stored.map(toMirrorObject))).toEqual(sortByKey([...model.objects.values()]));
          for (const row of stored) expect(row.archived).toBe(isArchived(toMirrorObject(row)));
          const edges = await testDb.db.selectFrom('hubspot_associations').selectAll().where('portal_id', '=', expectedPortal).execute();
          expect(sortByKey(edges.map(toAssociationState))).toEqual(sortByKey([...model.edges.values()]));
          expect(sortByKey(await storedReads(expectedPortal))).toEqual(sortByKey([...model.reads.values()]));
          let i = 0;
          const delivered = batches.map((batch) => onPortal(batch, actualPortal).map((obs) => ({ ...obs, via: paths[i++] ?? 'poll' })));
          await applyBatches(delivered);
          expect(await mirrorState(actualPortal)).toEqual(await mirrorState(expectedPortal));
          // The ledger holds what the pure rule's sightings, merged the same way, say about this delivery.
          expect(await storedLedger(actualPortal)).toEqual(pureLedger(delivered));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reads objects through merge redirects and lists live associations', async () => {
    const portalId = nextPortal++;
    const seenAt = new Date('2026-11-01T00:00:10Z');
    const v = (s: number) => Date.UTC(2026, 10, 1, 0, 0, s);
    const ref = (objectId: string) => ({ portalId, objectType: 'contacts', objectId });
    await applyBatches([
      [
        { kind: 'snapshot', ref: ref('1'), version: v(1), via: 'poll', seenAt, properties: { email: 'old@example.com' } },
        { kind: 'merged', ref: ref('3'), version: v(5), via: 'webhook', seenAt, mergedIds: ['1', '2'] },
        { kind: 'propertyChange', ref: ref('3'), version: v(6), via: 'webhook', seenAt, property: 'email', value: 'new@example.com' },
        { kind: 'association', ref: ref('3'), version: v(6), via: 'webhook', seenAt, toObjectType: 'companies', toObjectId: '9', removed: false },
        { kind: 'association', ref: ref('3'), version: v(7), via: 'webhook', seenAt, toObjectType: 'companies', toObjectId: '8', removed: true },
      ],
    ]);
    const resolved = await getObject(testDb.db, ref('1'));
    expect(resolved?.objectId).toBe('3');
    expect(resolved?.properties).toEqual({ email: 'new@example.com' });
    const old = await getObject(testDb.db, ref('1'), { followMerges: false });
    expect(old).toMatchObject({ objectId: '1', mergedInto: '3', archived: true, properties: {} });
    expect(await getObject(testDb.db, ref('404'))).toBeUndefined();
    expect((await listAssociations(testDb.db, ref('3'))).map((a) => a.toObjectId)).toEqual(['9']);
  });

  it('reads and merges a company with more contacts than the lock table has room for (its portal\'s edges locked whole)', async () => {
    const portalId = nextPortal++;
    const seenAt = new Date('2026-11-01T00:00:10Z');
    const v = (s: number) => Date.UTC(2026, 10, 1, 0, 0, s);
    const company = (objectId: string) => ({ portalId, objectType: 'companies', objectId });
    // Postgres's lock table holds max_locks_per_transaction (64) for each of max_connections (100) sessions,
    // shared: one transaction here runs out between 10,000 and 20,000 advisory locks (fails without the portal lock: checked).
    const contacts = Array.from({ length: 20_000 }, (_, i) => ({ objectId: String(100_000 + i), types: [] }));
    await applyBatches([[{ kind: 'associationRead', ref: company('1'), version: v(1), via: 'poll', seenAt, toObjectType: 'contacts', to: contacts }]]);
    await applyBatches([[{ kind: 'merged', ref: company('2'), version: v(2), via: 'webhook', seenAt, mergedIds: ['1'] }]]);
    const moved = await listAssociations(testDb.db, company('2'), 'contacts');
    expect(moved).toHaveLength(20_000);
    expect(await listAssociations(testDb.db, company('1'), 'contacts')).toEqual([]);
  });

  it('stores any text faithfully (quotes, backslashes, braces, NULL, unicode)', async () => {
    const portalId = nextPortal++;
    const ref = { portalId, objectType: 'contacts', objectId: 'x"y\\z' };
    const tricky = { a: '"quoted" \\ back\\slash', b: '{braces},[x]', c: 'NULL', d: 'ä 😀 \u0001', e: null, 'we"ird\\key': "it's" };
    await applyBatches([[{ kind: 'snapshot', ref, version: 1_000, via: 'poll', seenAt: new Date(2_000), properties: tricky }]]);
    const object = await getObject(testDb.db, ref);
    expect(object?.properties).toEqual(tricky);
    expect(object?.objectId).toBe('x"y\\z');
  });

  it('a read carrying text Postgres cannot store (NUL, a lone surrogate) is stored with U+FFFD in its place', async () => {
    const portalId = nextPortal++;
    const properties = { email: 'nul\u0000x', firstname: 'lone\ud800x', lastname: 'pair \ud83d\ude00', lastmodifieddate: '2026-11-02T00:00:00.000Z' };
    await applyBatches([[snapshotFromObject(portalId, 'contacts', { id: '1', properties }, 'poll', new Date(Date.UTC(2026, 10, 3)))]]);
    const object = await getObject(testDb.db, { portalId, objectType: 'contacts', objectId: '1' });
    expect(object?.properties).toMatchObject({ email: 'nul\ufffdx', firstname: 'lone\ufffdx', lastname: 'pair 😀' });
  });

  it('the ledger tells how much webhooks delivered before polling, and each path\'s lag', async () => {
    const portalId = nextPortal++;
    const T = Date.UTC(2026, 10, 2);
    const ref = { portalId, objectType: 'contacts', objectId: '1' };
    const observations: Observation[] = [];
    for (let i = 0; i < 10; i++) {
      const occurred = T + i * 60_000;
      // Webhooks deliver changes 0-7: 0-5 after 1 s, 6-7 late (after 60 s, behind the poll); 8-9 never.
      if (i < 8) {
        const lag = i < 6 ? 1_000 : 60_000;
        const change: Observation = { kind: 'propertyChange', ref, version: occurred, via: 'webhook', seenAt: new Date(occurred + lag), property: `p${i}`, value: `v${i}` };
        observations.push(change, { ...change, seenAt: new Date(occurred + lag + 5_000) }); // a retried delivery
      }
      observations.push({
        kind: 'snapshot',
        ref,
        version: occurred,
        via: 'poll',
        seenAt: new Date(occurred + 30_000),
        properties: { [`p${i}`]: `v${i}`, lastmodifieddate: String(occurred) },
        propertyVersions: { [`p${i}`]: occurred },
      });
    }
    const shuffled = [...observations].sort((a, b) => (a.seenAt.getTime() * 7919) % 13 - (b.seenAt.getTime() * 7919) % 13);
    await applyBatches([shuffled.slice(0, 7), shuffled.slice(7, 15), shuffled.slice(15)]);

    const range = { portalId, since: new Date(T), until: new Date(T + 3_600_000) };
    const report = await ledgerReport(testDb.db, range);
    expect(report.groups).toHaveLength(1);
    expect(report.total).toMatchObject({
      portalId: null,
      changes: 10,
      pollOnly: 2,
      paths: {
        webhook: { seen: 8, first: 6, missed: 2, coverage: 0.8, firstShare: 0.6, lagMs: { p50: 1_000, p95: 60_000, max: 60_000 } },
        poll: { seen: 10, first: 4, missed: 0, coverage: 1, firstShare: 0.4, lagMs: { p50: 30_000, p95: 30_000, max: 30_000 } },
        journal: { seen: 0, first: 0, missed: 10, coverage: 0, lagMs: { p50: null, p95: null, max: null } },
      },
    });
    expect(report.groups[0]).toMatchObject({ portalId, objectType: 'contacts', changes: 10 });
    const missed = await missedByWebhook(testDb.db, range);
    expect(missed.map((m) => [m.property, m.firstSeenVia])).toEqual([
      ['p8', 'poll'],
      ['p9', 'poll'],
    ]);
    // A creation only the webhook saw counts as a change, unless the report is about properties only.
    await applyBatches([[{ kind: 'created', ref, version: T, via: 'webhook', seenAt: new Date(T + 500) }]]);
    expect((await ledgerReport(testDb.db, range)).total).toMatchObject({ changes: 11, paths: { webhook: { seen: 9 } } });
    expect((await ledgerReport(testDb.db, { ...range, propertiesOnly: true })).total).toMatchObject({ changes: 10, paths: { webhook: { seen: 8 } } });
    const empty = await ledgerReport(testDb.db, { ...range, objectType: 'deals' });
    expect(empty.total.changes).toBe(0);
    expect(empty.groups).toEqual([]);
  });
  it('one change seen by push, journal and polling is one ledger row with each path\'s first sight, and the report compares the three', async () => {
    const portalId = nextPortal++;
    const T = Date.UTC(2026, 10, 3);
    const ref = { portalId, objectType: 'contacts', objectId: '1' };
    const change = (via: Via, lag: number): Observation => ({ kind: 'propertyChange', ref, version: T, via, seenAt: new Date(T + lag), property: 'email', value: 'a@x' });
    const poll: Observation = { kind: 'snapshot', ref, version: T, via: 'poll', seenAt: new Date(T + 30_000), properties: { email: 'a@x' }, propertyVersions: { email: T } };
    // The journal only: a change push never delivered.
    const journalOnly: Observation = { kind: 'propertyChange', ref, version: T + 1000, via: 'journal', seenAt: new Date(T + 3_000), property: 'firstname', value: 'Ann' };
    await applyBatches([[change('journal', 2_000), poll], [change('webhook', 500), change('journal', 2_500), journalOnly], [change('webhook', 900)]]);
    const rows = await testDb.db.selectFrom('change_ledger').selectAll().where('portal_id', '=', portalId).orderBy('occurred_at').execute();
    expect(rows.map((r) => [r.property, r.first_seen_via, r.seen_by_webhook_at?.getTime(), r.seen_by_journal_at?.getTime(), r.seen_by_poll_at?.getTime()])).toEqual([
      ['email', 'webhook', T + 500, T + 2_000, T + 30_000],
      ['firstname', 'journal', undefined, T + 3_000, undefined],
    ]);
    const report = await ledgerReport(testDb.db, { portalId, since: new Date(T), until: new Date(T + 60_000) });
    expect(report.total).toMatchObject({
      changes: 2,
      pollOnly: 0,
      paths: {
        webhook: { seen: 1, first: 1, missed: 1, coverage: 0.5, lagMs: { p50: 500 } },
        journal: { seen: 2, first: 1, missed: 0, coverage: 1, lagMs: { max: 2_000 } },
        poll: { seen: 1, first: 0, missed: 1 },
      },
    });
  });
});
