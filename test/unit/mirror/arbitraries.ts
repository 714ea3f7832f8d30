import fc from 'fast-check';
import type { Observation, ObjectRef, Via } from '../../../src/mirror/observation.ts';

/**
 * HubSpot-like histories over a handful of contacts, with small version and value ranges so ties,
 * conflicts and every lifecycle interplay (delete vs. restore, merges, privacy deletion) are common.
 */
export const PORTAL = 62515;
const IDS = ['101', '102', '103', '104'];
const PROPERTIES = ['email', 'firstname', 'lifecyclestage'];
const VALUES = ['a', 'b', 'c', null];
const T0 = Date.UTC(2026, 10, 1);

const via = fc.constantFrom<Via>('webhook', 'poll', 'hydration', 'workflow', 'paragon', 'journal');
const version = fc.integer({ min: 1, max: 12 }).map((n) => T0 + n * 1000);
const seenAt = fc.integer({ min: 0, max: 50 }).map((n) => new Date(T0 + 5000 + n * 500));
const id = fc.constantFrom(...IDS);
const value = fc.constantFrom(...VALUES);
const properties = fc.dictionary(fc.constantFrom(...PROPERTIES), value, { maxKeys: 3 });

function ref(objectId: string, objectType = 'contacts'): ObjectRef {
  return { portalId: PORTAL, objectType, objectId };
}

const base = fc.record({ id, version, via, seenAt });

export interface HistoryOptions {
  /** Include snapshots without per-property versions (their ledger sightings depend on order). */
  unversionedSnapshots?: boolean;
}

export function observationArb(options: HistoryOptions = {}): fc.Arbitrary<Observation> {
  const snapshot = fc
    .record({
      b: base,
      properties,
      versioned: options.unversionedSnapshots === false ? fc.constant(true) : fc.boolean(),
      offsets: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 3, maxLength: 3 }),
      createdAt: fc.option(version, { nil: undefined }),
      mergedIds: fc.option(fc.uniqueArray(id, { maxLength: 2 }), { nil: undefined }),
      archivedAt: fc.option(version, { nil: undefined }),
    })
    .map(({ b, properties, versioned, offsets, createdAt, mergedIds, archivedAt }): Observation => {
      const propertyVersions = versioned
        ? Object.fromEntries(Object.keys(properties).map((p, i) => [p, b.version - (offsets[i] ?? 0) * 1000]))
        : undefined;
      return {
        kind: 'snapshot',
        ref: ref(b.id),
        version: b.version,
        via: b.via,
        seenAt: b.seenAt,
        properties,
        ...(propertyVersions ? { propertyVersions } : {}),
        ...(createdAt !== undefined ? { createdAt } : {}),
        ...(mergedIds !== undefined ? { mergedIds } : {}),
        ...(archivedAt !== undefined ? { archivedAt } : {}),
      };
    });
  const propertyChange = fc
    .record({ b: base, property: fc.constantFrom(...PROPERTIES), value })
    .map(({ b, property, value }): Observation => ({ kind: 'propertyChange', ref: ref(b.id), version: b.version, via: b.via, seenAt: b.seenAt, property, value }));
  const lifecycle = fc
    .record({ b: base, kind: fc.constantFrom('created', 'deleted', 'restored', 'privacyDeleted', 'deleted', 'restored') })
    .map(({ b, kind }): Observation => ({ kind, ref: ref(b.id), version: b.version, via: b.via, seenAt: b.seenAt }) as Observation);
  const merged = fc
    .record({ b: base, mergedIds: fc.uniqueArray(id, { minLength: 1, maxLength: 2 }) })
    .map(({ b, mergedIds }): Observation => ({ kind: 'merged', ref: ref(b.id), version: b.version, via: b.via, seenAt: b.seenAt, mergedIds }));
  const association = fc
    .record({ b: base, to: fc.constantFrom('201', '202'), removed: fc.boolean() })
    .map(({ b, to, removed }): Observation => ({
      kind: 'association',
      ref: ref(b.id),
      version: b.version,
      via: b.via,
      seenAt: b.seenAt,
      toObjectType: 'companies',
      toObjectId: to,
      associationType: 'CONTACT_TO_COMPANY',
      removed,
    }));
  return fc.oneof(
    { arbitrary: propertyChange, weight: 5 },
    { arbitrary: snapshot, weight: 3 },
    { arbitrary: lifecycle, weight: 2 },
    { arbitrary: merged, weight: 1 },
    { arbitrary: association, weight: 2 },
  );
}

export function historyArb(options: HistoryOptions = {}): fc.Arbitrary<Observation[]> {
  return fc.array(observationArb(options), { minLength: 1, maxLength: 40 });
}

/**
 * The same history as it may arrive: shuffled, some observations duplicated, cut into batches.
 * Returns batches; every original observation appears at least once.
 */
export function deliveryArb(history: Observation[]): fc.Arbitrary<Observation[][]> {
  return fc
    .record({
      extra: fc.array(fc.nat({ max: Math.max(0, history.length - 1) }), { maxLength: history.length }),
      order: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: history.length * 2, maxLength: history.length * 2 }),
      cuts: fc.array(fc.boolean(), { minLength: history.length * 2, maxLength: history.length * 2 }),
    })
    .map(({ extra, order, cuts }) => {
      const all = [...history, ...extra.map((i) => history[i]!)];
      const shuffled = all
        .map((obs, i) => ({ obs, k: order[i] ?? 0, i }))
        .sort((a, b) => a.k - b.k || a.i - b.i)
        .map((x) => x.obs);
      const batches: Observation[][] = [[]];
      shuffled.forEach((obs, i) => {
        batches[batches.length - 1]!.push(obs);
        if (cuts[i]) batches.push([]);
      });
      return batches.filter((b) => b.length > 0);
    });
}
