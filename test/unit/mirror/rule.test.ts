import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEdgeRule, associationKey } from '../../../src/mirror/edges.ts';
import { reduceSightings } from '../../../src/mirror/ledger.ts';
import { objectKey, type Observation } from '../../../src/mirror/observation.ts';
import { applyRule, isArchived } from '../../../src/mirror/rule.ts';
import { deliveryArb, historyArb, PORTAL } from './arbitraries.ts';
import { applyBatches, finalOf, inOrder, sorted } from './model.ts';

describe('mirror rule', () => {
  it('converges: any order, duplicates and batching give the in-order state', () => {
    fc.assert(
      fc.property(
        historyArb().chain((history) => fc.tuple(fc.constant(history), deliveryArb(history))),
        ([history, batches]) => {
          const expected = inOrder(history);
          const actual = applyBatches(batches);
          expect(sorted(actual.objects)).toEqual(sorted(expected.objects));
          expect(sorted(actual.edges)).toEqual(sorted(expected.edges));
          expect(sorted(actual.reads)).toEqual(sorted(expected.reads));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('the ledger converges too when every read carries property versions', () => {
    fc.assert(
      fc.property(
        historyArb({ unversionedSnapshots: false }).chain((history) => fc.tuple(fc.constant(history), deliveryArb(history))),
        ([history, batches]) => {
          expect(sorted(applyBatches(batches).ledger)).toEqual(sorted(inOrder(history).ledger));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is idempotent: re-applying a batch changes nothing', () => {
    fc.assert(
      fc.property(historyArb(), (history) => {
        const store = inOrder(history);
        expect(applyRule(store.objects, history).objects).toEqual([]);
        const edges = applyEdgeRule({ edges: store.edges, reads: store.reads }, history, (ref) => finalOf(store, ref));
        expect(edges).toEqual({ edges: [], deleted: [], reads: [], deletedReads: [] });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps both sides of an edge alike, and no edge or watermark on an id merged away', () => {
    fc.assert(
      fc.property(historyArb(), (history) => {
        const store = inOrder(history);
        for (const side of store.edges.values()) {
          const back = store.edges.get(associationKey({ portalId: side.portalId, fromObjectType: side.toObjectType, fromObjectId: side.toObjectId, toObjectType: side.fromObjectType, toObjectId: side.fromObjectId }));
          expect(back).toMatchObject({ removed: side.removed, version: side.version });
          for (const end of [{ objectType: side.fromObjectType, objectId: side.fromObjectId }, { objectType: side.toObjectType, objectId: side.toObjectId }]) {
            expect(finalOf(store, { portalId: side.portalId, ...end })).toBe(end.objectId);
          }
        }
        for (const read of store.reads.values()) expect(finalOf(store, read)).toBe(read.objectId);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps, per property, the newest version (ties: larger value) unless erased or merged away', () => {
    fc.assert(
      fc.property(historyArb(), (history) => {
        const store = inOrder(history);
        for (const object of store.objects.values()) {
          if (object.privacyDeletedAt !== null || object.goneAt !== null || object.mergedInto !== null) {
            expect(object.properties).toEqual({});
            expect(object.propertyVersions).toEqual({});
            expect(isArchived(object)).toBe(true);
            continue;
          }
          for (const [property, value] of Object.entries(object.properties)) {
            const candidates = history.flatMap((obs) => {
              if (objectKey(obs.ref) !== objectKey(object)) return [];
              if (obs.kind === 'propertyChange' && obs.property === property) return [{ version: obs.version, value: obs.value }];
              if (obs.kind === 'snapshot' && Object.hasOwn(obs.properties, property)) {
                return [{ version: obs.propertyVersions?.[property] ?? obs.version, value: obs.properties[property] ?? null }];
              }
              return [];
            });
            const newest = Math.max(...candidates.map((c) => c.version));
            expect(object.propertyVersions[property]).toBe(newest);
            const tied = candidates.filter((c) => c.version === newest).map((c) => c.value);
            const best = tied.reduce((a, b) => (a === null ? b : b === null ? a : a > b ? a : b));
            expect(value).toBe(best);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('merge redirects are permanent and name the final survivor', () => {
    fc.assert(
      fc.property(historyArb(), (history) => {
        const store = inOrder(history);
        for (const obs of history) {
          if (obs.kind !== 'merged') continue;
          for (const id of obs.mergedIds.filter((m) => m !== obs.ref.objectId)) {
            const old = store.objects.get(objectKey({ ...obs.ref, objectId: id }))!;
            expect(old.mergedInto).not.toBeNull();
            expect(old.mergedVersion).toBeGreaterThanOrEqual(obs.version);
            expect(isArchived(old)).toBe(true);
            // Never a survivor that was merged away itself.
            expect(store.objects.get(objectKey({ ...obs.ref, objectId: old.mergedInto! }))?.mergedInto ?? null).toBeNull();
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('mirror rule cases', () => {
  const ref = { portalId: PORTAL, objectType: 'contacts', objectId: '1' };
  const at = (s: number) => new Date(Date.UTC(2026, 10, 1, 0, 0, s));
  const v = (s: number) => at(s).getTime();
  const apply = (...obs: Observation[]) => inOrder(obs).objects.get(objectKey(ref))!;

  it('a delete wins over older reads and loses to a newer restore or live read', () => {
    const del: Observation = { kind: 'deleted', ref, version: v(10), via: 'webhook', seenAt: at(11) };
    const oldRead: Observation = { kind: 'snapshot', ref, version: v(5), via: 'poll', seenAt: at(20), properties: { email: 'x' } };
    expect(isArchived(apply(oldRead, del))).toBe(true);
    expect(isArchived(apply(del, oldRead))).toBe(true);
    expect(apply(del, oldRead).properties).toEqual({ email: 'x' });
    const restore: Observation = { kind: 'restored', ref, version: v(12), via: 'webhook', seenAt: at(13) };
    expect(isArchived(apply(restore, del, oldRead))).toBe(false);
    const newRead: Observation = { ...oldRead, version: v(15) };
    expect(isArchived(apply(newRead, del))).toBe(false);
  });

  it('privacy deletion erases values and no later or older observation brings them back', () => {
    const gdpr: Observation = { kind: 'privacyDeleted', ref, version: v(10), via: 'webhook', seenAt: at(11) };
    const newer: Observation = { kind: 'propertyChange', ref, version: v(30), via: 'poll', seenAt: at(31), property: 'email', value: 'x' };
    const restore: Observation = { kind: 'restored', ref, version: v(40), via: 'webhook', seenAt: at(41) };
    const object = apply(newer, gdpr, restore, newer);
    expect(object.properties).toEqual({});
    expect(object.privacyDeletedAt).toBe(v(10));
    expect(isArchived(object)).toBe(true);
  });

  it('a merged-away id keeps pointing at the survivor whatever arrives for it later', () => {
    const merge: Observation = { kind: 'merged', ref: { ...ref, objectId: '9' }, version: v(10), via: 'webhook', seenAt: at(11), mergedIds: ['1', '2'] };
    const late: Observation = { kind: 'restored', ref, version: v(50), via: 'poll', seenAt: at(51) };
    const object = apply(late, merge, late);
    expect(object.mergedInto).toBe('9');
    expect(isArchived(object)).toBe(true);
  });

  it('a merged-away id keeps no values: the survivor\'s privacy deletion leaves nothing of the person behind', () => {
    const read: Observation = { kind: 'snapshot', ref, version: v(5), via: 'poll', seenAt: at(6), properties: { email: 'alice@example.com', phone: '555' } };
    const merge: Observation = { kind: 'merged', ref: { ...ref, objectId: '9' }, version: v(10), via: 'webhook', seenAt: at(11), mergedIds: ['1'] };
    const gdpr: Observation = { kind: 'privacyDeleted', ref: { ...ref, objectId: '9' }, version: v(20), via: 'webhook', seenAt: at(21) };
    for (const history of [[read, merge, gdpr], [merge, gdpr, read], [gdpr, read, merge]]) {
      const objects = inOrder(history).objects;
      expect(objects.get(objectKey(ref))).toMatchObject({ mergedInto: '9', properties: {}, propertyVersions: {} });
      expect(objects.get(objectKey({ ...ref, objectId: '9' }))).toMatchObject({ properties: {}, privacyDeletedAt: v(20) });
    }
  });

  it('an unversioned read records only the properties that changed at its version', () => {
    const first: Observation = { kind: 'snapshot', ref, version: v(10), via: 'poll', seenAt: at(11), properties: { email: 'a', firstname: 'f' } };
    const hook: Observation = { kind: 'propertyChange', ref, version: v(20), via: 'webhook', seenAt: at(21), property: 'email', value: 'b' };
    const read: Observation = { kind: 'snapshot', ref, version: v(20), via: 'poll', seenAt: at(25), properties: { email: 'b', firstname: 'f' } };
    const ledger = [...inOrder([first, hook, read]).ledger.values()].filter((c) => c.version === v(20));
    expect(ledger.map((c) => [c.property, c.firstSeenVia, c.seenAt])).toEqual([['email', 'webhook', { webhook: at(21).getTime(), poll: at(25).getTime() }]]);
  });

  it('the first read of an object modified since its creation dates no property values, only the creation', () => {
    const old: Observation = { kind: 'snapshot', ref, version: v(20), via: 'poll', seenAt: at(25), createdAt: v(1), properties: { email: 'b', firstname: 'f' } };
    const ledger = [...inOrder([old]).ledger.values()];
    expect(ledger.map((c) => [c.property, c.version])).toEqual([['@created', v(1)]]);
    const fresh: Observation = { ...old, version: v(1) };
    expect([...inOrder([fresh]).ledger.values()].map((c) => c.property).sort()).toEqual(['@created', 'email', 'firstname']);
  });

  it('a read that finds a value it already stored at the same version only confirms, never creates a change', () => {
    const old: Observation = { kind: 'snapshot', ref, version: v(20), via: 'poll', seenAt: at(25), createdAt: v(1), properties: { email: 'b' } };
    const again: Observation = { ...old, seenAt: at(40) };
    const second = applyRule(new Map(inOrder([old]).objects), [again]).ledger;
    expect(second.filter((s) => s.property === 'email').map((s) => s.confirmOnly)).toEqual([true]);
    expect(reduceSightings(second).find((c) => c.property === 'email')?.confirmOnly).toBe(true);
  });
  it('a merge is one change (@merged): the merged-ids list and the other bookkeeping HubSpot sets are never changes of their own', () => {
    const survivor: Observation = {
      kind: 'snapshot', ref, version: v(30), via: 'hydration', seenAt: at(31), createdAt: v(30), mergedIds: ['7'],
      properties: { email: 'b', hs_merged_object_ids: '7', lastmodifieddate: String(v(30)), createdate: String(v(30)), hs_object_id: ref.objectId },
    };
    const merge: Observation = { kind: 'merged', ref, version: v(30), via: 'webhook', seenAt: at(30), mergedIds: ['7'] };
    const properties = [...inOrder([merge, survivor]).ledger.values()].map((c) => c.property).sort();
    expect(properties).toEqual(['@created', '@merged', 'email']);
  });

  it('a custom object\'s creation time (hs_createdate, its createdate) is bookkeeping too: a creation is @created, not a change no push path carries', () => {
    const project = { portalId: PORTAL, objectType: '2-3465', objectId: '9' };
    const read: Observation = {
      kind: 'snapshot', ref: project, version: v(40), via: 'poll', seenAt: at(41), createdAt: v(40),
      properties: { name: 'Apollo', hs_createdate: String(v(40)), hs_lastmodifieddate: String(v(40)), hs_object_id: '9' }, propertyVersions: { name: v(40), hs_createdate: v(40) },
    };
    const model = inOrder([read]);
    expect([...model.ledger.values()].map((c) => c.property).sort()).toEqual(['@created', 'name']);
    // Still mirrored.
    expect(model.objects.get(objectKey(project))!.properties).toMatchObject({ hs_createdate: String(v(40)) });
  });
});

describe('association rule cases', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 10, 1, 0, 0, s));
  const v = (s: number) => at(s).getTime();
  const contact = (objectId: string) => ({ portalId: PORTAL, objectType: 'contacts', objectId });
  const edge = (from: string, to: string, s: number, removed = false): Observation => ({
    kind: 'association', ref: contact(from), version: v(s), via: 'webhook', seenAt: at(s + 1), toObjectType: 'companies', toObjectId: to, removed,
  });
  const read = (from: string, s: number, ...to: string[]): Observation => ({
    kind: 'associationRead', ref: contact(from), version: v(s), via: 'poll', seenAt: at(s), toObjectType: 'companies',
    to: to.map((objectId) => ({ objectId, types: [{ category: 'HUBSPOT_DEFINED', typeId: 279, label: null }] })),
  });
  /** Present edges as `contact>company`, for every order of the history. */
  const present = (...history: Observation[]): string[] => {
    const results = permutations(history).map((order) => {
      const model = inOrder(order);
      return [...model.edges.values()].filter((e) => !e.removed && e.fromObjectType === 'contacts').map((e) => `${e.fromObjectId}>${e.toObjectId}`).sort();
    });
    for (const r of results) expect(r).toEqual(results[0]);
    return results[0]!;
  };

  it('a read is the full set: edges it does not list are removed, a webhook older than it is born removed, a newer one wins', () => {
    expect(present(edge('1', '7', 5), edge('1', '8', 5), read('1', 10, '8'))).toEqual(['1>8']);
    expect(present(read('1', 10, '8'), edge('1', '9', 6))).toEqual(['1>8']);
    expect(present(read('1', 10, '8'), edge('1', '9', 12), edge('1', '8', 11, true))).toEqual(['1>9']);
  });

  it('writes both sides, labelled from each side, and keeps the read\'s association types on the side it read', () => {
    const model = inOrder([read('1', 10, '8')]);
    const sides = [...model.edges.values()].map((e) => [e.associationType, e.fromObjectId, e.toObjectId, e.types?.map((t) => t.typeId) ?? null]);
    expect(sides.sort()).toEqual([['COMPANY_TO_CONTACT', '8', '1', null], ['CONTACT_TO_COMPANY', '1', '8', [279]]]);
  });

  it('a merge moves the loser\'s edges to the survivor; the survivor\'s read after it settles them', () => {
    const merge: Observation = { kind: 'merged', ref: contact('2'), version: v(20), via: 'webhook', seenAt: at(21), mergedIds: ['1'] };
    expect(present(edge('1', '7', 5), edge('2', '8', 6), merge)).toEqual(['2>7', '2>8']);
    // A late webhook about the loser lands on the survivor.
    expect(present(edge('2', '8', 6), merge, edge('1', '9', 7))).toEqual(['2>8', '2>9']);
    expect(present(edge('1', '7', 5), merge, read('2', 30, '7'), edge('2', '8', 6))).toEqual(['2>7']);
  });

  it('chained merges: the first loser points at the final survivor, and its edges end there', () => {
    const ab: Observation = { kind: 'merged', ref: contact('2'), version: v(20), via: 'webhook', seenAt: at(21), mergedIds: ['1'] };
    const bc: Observation = { kind: 'merged', ref: contact('3'), version: v(30), via: 'webhook', seenAt: at(31), mergedIds: ['2'] };
    for (const order of permutations([ab, bc, edge('1', '7', 5)])) {
      const model = inOrder(order);
      expect(model.objects.get(objectKey(contact('1')))?.mergedInto).toBe('3');
      expect(model.objects.get(objectKey(contact('2')))?.mergedInto).toBe('3');
    }
    expect(present(ab, bc, edge('1', '7', 5))).toEqual(['3>7']);
  });

  it('a record gone for good is erased like a privacy deletion, with its own marker', () => {
    const snapshot: Observation = { kind: 'snapshot', ref: contact('1'), version: v(5), via: 'poll', seenAt: at(6), properties: { email: 'alice@example.com' } };
    const gone: Observation = { kind: 'gone', ref: contact('1'), version: v(50), via: 'poll', seenAt: at(50) };
    for (const order of permutations([snapshot, gone])) {
      const model = inOrder(order);
      expect(model.objects.get(objectKey(contact('1')))).toMatchObject({ properties: {}, goneAt: v(50), privacyDeletedAt: null });
      expect(isArchived(model.objects.get(objectKey(contact('1')))!)).toBe(true);
      expect([...model.ledger.values()].map((c) => c.property)).toContain('@gone');
    }
  });
});

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}
