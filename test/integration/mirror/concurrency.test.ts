import fc from 'fast-check';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../../src/db/schema.ts';
import { describe, expect, it } from 'vitest';
import { listAssociations } from '../../../src/mirror/edge-store.ts';
import { getObject } from '../../../src/mirror/store.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import type { Observation } from '../../../src/mirror/observation.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { deliveryArb, historyArb } from '../../unit/mirror/arbitraries.ts';

const testDb = useTestDb();

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A portal's association rows and watermarks, minus their write times. */
async function edgeState(portalId: number) {
  const associations = await sql`
    select from_object_type, from_object_id, to_object_type, to_object_id, association_type, removed, version, association_types, types_version
    from hubspot_associations where portal_id = ${portalId}
    order by from_object_type, from_object_id, to_object_type, to_object_id`.execute(testDb.db);
  const reads = await sql`
    select object_type, object_id, to_object_type, read_at from hubspot_association_reads where portal_id = ${portalId}
    order by object_type, object_id, to_object_type`.execute(testDb.db);
  return { associations: associations.rows, reads: reads.rows };
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sessions of the test database waiting for a lock, other than this one. */
async function waiting(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*) as n from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`.execute(db);
  return Number(rows[0]?.n);
}

/**
 * Holds a transaction open (`hold` takes its locks), starts each batch in a transaction of its own
 * once the ones before it wait for a lock, then lets the holder commit and waits for them all: the
 * batches queue on the holder's locks in the order given.
 */
async function queuedBehind(db: Kysely<Database>, hold: (trx: Transaction<Database>) => Promise<unknown>, batches: Observation[][]): Promise<void> {
  const held = deferred();
  const release = deferred();
  const holder = db.transaction().execute(async (trx) => {
    await hold(trx);
    held.resolve();
    await release.promise;
  });
  await held.promise;
  const outcomes: Promise<unknown>[] = [];
  try {
    for (const [i, batch] of batches.entries()) {
      outcomes.push(db.transaction().execute((trx) => applyObservations(trx, batch)));
      await until(async () => (await waiting(db)) >= i + 1);
    }
  } finally {
    release.resolve();
  }
  await holder;
  await Promise.all(outcomes);
}

describe('mirror under concurrent transactions', () => {
  // Blocking needs a second session; PGlite has one, so this runs on Postgres only.
  it.runIf(serverUrl)('a second transaction on the same new object waits, then merges into the first one\'s row', async () => {
    const db = testDb.db;
    const ref = { portalId: 77, objectType: 'contacts', objectId: '1' };
    const seenAt = new Date('2026-11-03T00:00:00Z');
    const first: Observation = { kind: 'propertyChange', ref, version: 1_000, via: 'webhook', seenAt, property: 'email', value: 'a@example.com' };
    const second: Observation = { kind: 'propertyChange', ref, version: 2_000, via: 'poll', seenAt, property: 'firstname', value: 'Ada' };

    const applied = deferred();
    const release = deferred();
    const t1 = db.transaction().execute(async (trx) => {
      await applyObservations(trx, [first]);
      applied.resolve();
      await release.promise;
    });
    await applied.promise;
    const t2 = db.transaction().execute((trx) => applyObservations(trx, [second]));
    try {
      // t2 must be blocked on t1's new row, not racing past it.
      await until(async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*) as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`.execute(db);
        return Number(rows[0]?.n) > 0;
      });
    } finally {
      release.resolve();
    }
    await Promise.all([t1, t2]);

    const object = await getObject(db, ref);
    expect(object?.properties).toEqual({ email: 'a@example.com', firstname: 'Ada' });
    expect(object?.propertyVersions).toEqual({ email: 1_000, firstname: 2_000 });
  });

  // A merge re-points the rows redirected to the id it merges away; locking those after the batch's
  // own rows (a second step out of key order) let two batches each hold what the other waited for.
  it.runIf(serverUrl)('a merge and a batch holding a row redirected to the merged id do not deadlock', async () => {
    const db = testDb.db;
    const company = (objectId: string) => ({ portalId: 78, objectType: 'companies', objectId });
    const seenAt = new Date('2026-11-03T00:00:00Z');
    const merge = (into: string, id: string, version: number): Observation =>
      ({ kind: 'merged', ref: company(into), version, via: 'webhook', seenAt, mergedIds: [id] });
    // 201 was merged into 203; 202 exists.
    await db.transaction().execute((trx) => applyObservations(trx, [
      merge('203', '201', 2_000),
      { kind: 'propertyChange', ref: company('202'), version: 1_000, via: 'poll', seenAt, property: 'name', value: 'b' },
    ]));
    // A third transaction holds 201, so both batches queue on it in a known order: a redelivery of the
    // old merge locks 201, then 203; merging 203 into 202 locks 202 and 203, and must re-point 201 too.
    await queuedBehind(
      db,
      (trx) => sql`select 1 from hubspot_objects where portal_id = 78 and object_type = 'companies' and object_id = '201' for update`.execute(trx),
      [[merge('203', '201', 2_000)], [merge('202', '203', 3_000)]],
    );

    expect((await getObject(db, company('201'), { followMerges: false }))?.mergedInto).toBe('202');
    expect((await getObject(db, company('203'), { followMerges: false }))?.mergedInto).toBe('202');
  });

  // Merging contact 103 into 104 and company 202 into 203 both rewrite the edges between 103/104 and
  // 202, but each took advisory locks only on its own two ids: the edge rows were theirs to race
  // for, the upserts in key order and the deletes after them.
  it.runIf(serverUrl)('two merges moving the same edges from different ends do not deadlock', async () => {
    const db = testDb.db;
    const contact = (objectId: string) => ({ portalId: 79, objectType: 'contacts', objectId });
    const company = (objectId: string) => ({ portalId: 79, objectType: 'companies', objectId });
    const seenAt = new Date('2026-11-03T00:00:00Z');
    const edge = (from: string, to: string, version: number): Observation =>
      ({ kind: 'association', ref: contact(from), version, via: 'webhook', seenAt, toObjectType: 'companies', toObjectId: to, removed: false });
    // 103 and 104 are both associated with 202 (103's edge newer, so moving it changes 104's); 203 exists.
    // 103's rows come first in the table as in key order, so either plan deletes 202→103 first.
    for (const obs of [
      edge('103', '202', 2_000),
      edge('104', '202', 1_000),
      { kind: 'propertyChange', ref: company('203'), version: 1_000, via: 'poll', seenAt, property: 'name', value: 'c' } satisfies Observation,
    ]) {
      await db.transaction().execute((trx) => applyObservations(trx, [obs]));
    }
    // A third transaction holds the side 202→103, so both merges queue on it in a known order. Merging
    // 202 into 203 deletes 202's sides (202→103 first), then those of 104↔202; merging 103 into 104
    // rewrites 104↔202, then deletes 103↔202 (202→103 first).
    await queuedBehind(
      db,
      (trx) => sql`select 1 from hubspot_associations where portal_id = 79 and from_object_type = 'companies' and from_object_id = '202'
        and to_object_type = 'contacts' and to_object_id = '103' for update`.execute(trx),
      [
        [{ kind: 'merged', ref: company('203'), version: 3_000, via: 'webhook', seenAt, mergedIds: ['202'] }],
        [{ kind: 'merged', ref: contact('104'), version: 4_000, via: 'webhook', seenAt, mergedIds: ['103'] }],
      ],
    );

    expect((await listAssociations(db, contact('104'))).map((a) => a.toObjectId)).toEqual(['203']);
    expect((await listAssociations(db, company('203'))).map((a) => a.toObjectId)).toEqual(['104']);
    const keyedByMergedAway = await sql<{ n: number }>`select count(*) as n from hubspot_associations where portal_id = 79
      and (from_object_id in ('103', '202') or to_object_id in ('103', '202'))`.execute(db);
    expect(Number(keyedByMergedAway.rows[0]?.n)).toBe(0);
  });

  // An association batch found the final survivors of the ids it names before waiting for its locks:
  // a merge of one of them committing meanwhile left edges and watermarks keyed by the merged id.
  it.runIf(serverUrl)('edges and watermarks written while a merge of their ids commits go to the survivor', async () => {
    const db = testDb.db;
    const contact = (portalId: number, objectId: string) => ({ portalId, objectType: 'contacts', objectId });
    const company = (portalId: number, objectId: string) => ({ portalId, objectType: 'companies', objectId });
    const seenAt = new Date('2026-11-03T00:00:00Z');
    const objects = (p: number): Observation[] => ['101', '102', '202', '203'].map((id) => (
      { kind: 'propertyChange', ref: id.startsWith('1') ? contact(p, id) : company(p, id), version: 1_000, via: 'poll', seenAt, property: 'name', value: id }));
    const merge = (p: number): Observation => ({ kind: 'merged', ref: contact(p, '101'), version: 3_000, via: 'webhook', seenAt, mergedIds: ['102'] });
    // A single edge and a full read (listing 203, older than the edge) of contact 102, delivered late.
    const edge = (p: number): Observation =>
      ({ kind: 'association', ref: contact(p, '102'), version: 2_000, via: 'webhook', seenAt, toObjectType: 'companies', toObjectId: '202', removed: false });
    const read = (p: number): Observation => ({
      kind: 'associationRead', ref: contact(p, '102'), version: 1_500, via: 'poll', seenAt, toObjectType: 'companies',
      to: [{ objectId: '203', types: [{ category: 'HUBSPOT_DEFINED', typeId: 279, label: null }] }],
    });
    const [expected, actual] = [80, 81];
    for (const obs of [...objects(expected), merge(expected), edge(expected), read(expected)]) {
      await db.transaction().execute((trx) => applyObservations(trx, [obs]));
    }
    await db.transaction().execute((trx) => applyObservations(trx, objects(actual)));
    // The merge holds 102's edge lock until both association batches have read 102 as live and wait for it.
    await queuedBehind(db, (trx) => applyObservations(trx, [merge(actual)]), [[edge(actual)], [read(actual)]]);

    expect(await edgeState(actual)).toEqual(await edgeState(expected));
    expect((await listAssociations(db, contact(actual, '101'))).map((a) => a.toObjectId)).toEqual(['202', '203']);
  });

  // On PGlite the transactions queue for its one session; on Postgres they really overlap.
  it('many transactions applying parts of a history at once converge to the in-order mirror', async () => {
    const db = testDb.db;
    let portal = 5_000;
    await fc.assert(
      fc.asyncProperty(
        historyArb().chain((h) => fc.tuple(fc.constant(h), deliveryArb(h))),
        async ([history, batches]) => {
          const expected = portal++;
          const actual = portal++;
          const on = (obs: Observation[], portalId: number) => obs.map((o) => ({ ...o, ref: { ...o.ref, portalId } }));
          for (const obs of on(history, expected)) await db.transaction().execute((trx) => applyObservations(trx, [obs]));
          await Promise.all(batches.map((b) => db.transaction().execute((trx) => applyObservations(trx, on(b, actual)))));
          const state = async (portalId: number) =>
            (
              await sql`
                select object_type, object_id, properties, property_versions, archived, merged_into, merged_at, lifecycle,
                  lifecycle_at, privacy_deleted_at, hs_created_at, hs_updated_at, first_seen_via, first_seen_at
                from hubspot_objects where portal_id = ${portalId} order by object_type, object_id`.execute(db)
            ).rows;
          expect(await state(actual)).toEqual(await state(expected));
          expect(await edgeState(actual)).toEqual(await edgeState(expected));
        },
      ),
      { numRuns: 25 },
    );
  });
});
