import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeSighting, reduceSightings, type LedgerChange } from '../../../src/mirror/ledger.ts';
import { objectKey, type Observation } from '../../../src/mirror/observation.ts';
import {
  applyRule,
  associationKey,
  isArchived,
  mergeAssociation,
  type AssociationState,
} from '../../../src/mirror/rule.ts';
import type { MirrorObject } from '../../../src/mirror/registers.ts';
import { deliveryArb, historyArb, PORTAL } from './arbitraries.ts';

interface Store {
  objects: Map<string, MirrorObject>;
  associations: Map<string, AssociationState>;
  ledger: Map<string, LedgerChange>;
}

/** Applies batches one after another, the way applyObservations does against storage. */
function applyBatches(batches: Observation[][]): Store {
  const store: Store = { objects: new Map(), associations: new Map(), ledger: new Map() };
  for (const batch of batches) {
    const result = applyRule(store.objects, batch);
    for (const object of result.objects) store.objects.set(objectKey(object), object);
    for (const edge of result.associations) {
      const key = associationKey(edge);
      store.associations.set(key, mergeAssociation(store.associations.get(key), edge));
    }
    for (const change of reduceSightings(result.ledger)) {
      const key = `${objectKey(change)}\u0000${change.property}\u0000${change.version}`;
      const stored = store.ledger.get(key);
      if (!stored) store.ledger.set(key, structuredClone(change));
      else for (const [via, at] of Object.entries(change.seenAt)) mergeSighting(stored, via as never, at);
    }
  }
  return store;
}

const inOrder = (history: Observation[]) => applyBatches(history.map((obs) => [obs]));

const sorted = <T>(map: Map<string, T>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

describe('mirror rule', () => {
  it('converges: any order, duplicates and batching give the in-order state', () => {
    fc.assert(
      fc.property(
        historyArb().chain((history) => fc.tuple(fc.constant(history), deliveryArb(history))),
        ([history, batches]) => {
          const expected = inOrder(history);
          const actual = applyBatches(batches);
          expect(sorted(actual.objects)).toEqual(sorted(expected.objects));
          expect(sorted(actual.associations)).toEqual(sorted(expected.associations));
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
      }),
      { numRuns: 300 },
    );
  });

  it('keeps, per property, the newest version (ties: larger value) unless privacy-deleted or merged away', () => {
    fc.assert(
      fc.property(historyArb(), (history) => {
        const store = inOrder(history);
        for (const object of store.objects.values()) {
          if (object.privacyDeletedAt !== null || object.mergedInto !== null) {
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

  it('merge redirects are permanent and point at the newest merge survivor', () => {
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
});
