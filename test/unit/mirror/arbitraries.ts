import fc from 'fast-check';
import type { AssociationTypeSpec, Observation, ObjectRef, Via } from '../../../src/mirror/observation.ts';

/**
 * HubSpot-like histories over a handful of contacts and companies, with small version and value
 * ranges so ties, conflicts and every interplay (delete vs. restore, merges and chained merges,
 * privacy deletions and records gone for good, single edges vs. full reads of an object's edges)
 * are common.
 *
 * The histories are ones HubSpot can produce. Merges happen on a timeline: at its merge's version
 * an id is merged into one still live, and nothing is observed about it at a later version (reads
 * of it answer with the survivor). A record gone for good (or privacy-deleted) is not seen again
 * either. Reads of a survivor list every id merged into it by then (`hs_merged_object_ids`).
 */
export const PORTAL = 62515;
const CONTACTS = ['101', '102', '103', '104'];
const COMPANIES = ['201', '202', '203'];
const PROPERTIES = ['email', 'firstname', 'lifecyclestage'];
const VALUES = ['a', 'b', 'c', null];
const T0 = Date.UTC(2026, 10, 1);
/** Versions are T0 + 1..MAX_V seconds. */
const MAX_V = 14;
const at = (n: number) => T0 + n * 1000;

type Type = 'contacts' | 'companies';
const IDS: Record<Type, string[]> = { contacts: CONTACTS, companies: COMPANIES };
const other = (type: Type): Type => (type === 'contacts' ? 'companies' : 'contacts');

/** One id's end: merged into `into` at `version`, or gone (privacy-deleted or hard-deleted) then. */
interface End {
  version: number;
  into?: string;
}

/** The merge and deletion timeline of a history. */
export interface Timeline {
  ends: Map<string, End>;
}

const endKey = (type: Type, id: string) => `${type}:${id}`;

/** The last version (in 1..MAX_V) at which an id can still be observed, 0 when never. */
function lastLive(timeline: Timeline, type: Type, id: string): number {
  const end = timeline.ends.get(endKey(type, id));
  return end ? end.version - 1 : MAX_V;
}

/** Ids merged into `id` (directly or through a chain) at or before version `v`. */
function mergedInto(timeline: Timeline, type: Type, id: string, v: number): string[] {
  return IDS[type].filter((candidate) => {
    let current = candidate;
    let end = timeline.ends.get(endKey(type, current));
    while (end?.into !== undefined && end.version <= v) {
      current = end.into;
      if (current === id) return candidate !== id;
      end = timeline.ends.get(endKey(type, current));
    }
    return false;
  });
}

const timelineArb: fc.Arbitrary<Timeline> = fc
  .array(
    fc.record({
      type: fc.constantFrom<Type>('contacts', 'contacts', 'companies'),
      pick: fc.nat(),
      into: fc.nat(),
      gone: fc.boolean(),
      version: fc.integer({ min: 2, max: MAX_V }),
    }),
    { maxLength: 4 },
  )
  .map((steps) => {
    const ends = new Map<string, End>();
    // Applied in version order: each step ends an id that is still live, into one still live.
    const used = new Set<number>();
    for (const step of [...steps].sort((a, b) => a.version - b.version)) {
      if (used.has(step.version)) continue;
      const live = IDS[step.type].filter((id) => !ends.has(endKey(step.type, id)));
      if (live.length < 2) continue;
      const loser = live[step.pick % live.length]!;
      const survivors = live.filter((id) => id !== loser);
      used.add(step.version);
      if (step.gone && step.type === 'contacts') ends.set(endKey(step.type, loser), { version: step.version });
      else ends.set(endKey(step.type, loser), { version: step.version, into: survivors[step.into % survivors.length]! });
    }
    return { ends };
  });

const via = fc.constantFrom<Via>('webhook', 'poll', 'hydration', 'workflow', 'paragon', 'journal');
const seenAt = fc.integer({ min: 0, max: 50 }).map((n) => new Date(T0 + 5000 + n * 500));
const value = fc.constantFrom(...VALUES);
const properties = fc.dictionary(fc.constantFrom(...PROPERTIES), value, { maxKeys: 3 });
const typesArb: fc.Arbitrary<AssociationTypeSpec[]> = fc.constantFrom(
  [{ category: 'HUBSPOT_DEFINED', typeId: 279, label: null }],
  [{ category: 'HUBSPOT_DEFINED', typeId: 279, label: null }, { category: 'HUBSPOT_DEFINED', typeId: 1, label: 'Primary' }],
);

function ref(objectType: Type, objectId: string): ObjectRef {
  return { portalId: PORTAL, objectType, objectId };
}

export interface HistoryOptions {
  /** Include snapshots without per-property versions (their ledger sightings depend on order). */
  unversionedSnapshots?: boolean;
}

/** An observation of the timeline's world: about an id still live at its version. */
function observationArb(timeline: Timeline, options: HistoryOptions): fc.Arbitrary<Observation | undefined> {
  const subject = fc.record({
    type: fc.constantFrom<Type>('contacts', 'contacts', 'companies'),
    pick: fc.nat(),
    v: fc.nat(),
    via,
    seenAt,
  }).map(({ type, pick, v, via, seenAt }) => {
    const id = IDS[type][pick % IDS[type].length]!;
    const last = lastLive(timeline, type, id);
    if (last < 1) return undefined;
    const n = 1 + (v % last);
    return { type, id, n, version: at(n), via, seenAt };
  });

  const snapshot = fc
    .record({
      s: subject,
      properties,
      versioned: options.unversionedSnapshots === false ? fc.constant(true) : fc.boolean(),
      offsets: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 3, maxLength: 3 }),
      created: fc.option(fc.integer({ min: 1, max: MAX_V }), { nil: undefined }),
      archived: fc.option(fc.integer({ min: 1, max: MAX_V }), { nil: undefined }),
    })
    .map(({ s, properties, versioned, offsets, created, archived }): Observation | undefined => {
      if (!s) return undefined;
      const propertyVersions = versioned
        ? Object.fromEntries(Object.keys(properties).map((p, i) => [p, s.version - (offsets[i] ?? 0) * 1000]))
        : undefined;
      const merged = mergedInto(timeline, s.type, s.id, s.n);
      return {
        kind: 'snapshot',
        ref: ref(s.type, s.id),
        version: s.version,
        via: s.via,
        seenAt: s.seenAt,
        properties,
        ...(propertyVersions ? { propertyVersions } : {}),
        ...(created !== undefined ? { createdAt: at(Math.min(created, s.n)) } : {}),
        ...(merged.length > 0 ? { mergedIds: merged } : {}),
        ...(archived !== undefined ? { archivedAt: at(Math.min(archived, s.n)) } : {}),
      };
    });
  const propertyChange = fc
    .record({ s: subject, property: fc.constantFrom(...PROPERTIES), value })
    .map(({ s, property, value }): Observation | undefined =>
      s && { kind: 'propertyChange', ref: ref(s.type, s.id), version: s.version, via: s.via, seenAt: s.seenAt, property, value });
  const lifecycle = fc
    .record({ s: subject, kind: fc.constantFrom('created', 'deleted', 'restored', 'deleted', 'restored') })
    .map(({ s, kind }): Observation | undefined => s && ({ kind, ref: ref(s.type, s.id), version: s.version, via: s.via, seenAt: s.seenAt }) as Observation);
  const edge = fc
    .record({ s: subject, to: fc.nat(), removed: fc.boolean(), types: fc.option(typesArb, { nil: undefined }) })
    .map(({ s, to, removed, types }): Observation | undefined => {
      if (!s) return undefined;
      const toType = other(s.type);
      const live = IDS[toType].filter((id) => lastLive(timeline, toType, id) >= s.n);
      if (live.length === 0) return undefined;
      return {
        kind: 'association', ref: ref(s.type, s.id), version: s.version, via: s.via, seenAt: s.seenAt,
        toObjectType: toType, toObjectId: live[to % live.length]!, removed, ...(types ? { types } : {}),
      };
    });
  const read = fc
    .record({ s: subject, listed: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), types: typesArb })
    .map(({ s, listed, types }): Observation | undefined => {
      if (!s) return undefined;
      const toType = other(s.type);
      const live = IDS[toType].filter((id) => lastLive(timeline, toType, id) >= s.n);
      return {
        kind: 'associationRead', ref: ref(s.type, s.id), version: s.version, via: s.via, seenAt: s.seenAt, toObjectType: toType,
        to: live.filter((_, i) => listed[i]).map((objectId) => ({ objectId, types })),
      };
    });
  return fc.oneof(
    { arbitrary: propertyChange, weight: 4 },
    { arbitrary: snapshot, weight: 3 },
    { arbitrary: lifecycle, weight: 2 },
    { arbitrary: edge, weight: 3 },
    { arbitrary: read, weight: 2 },
  );
}

/** The timeline's own events: merges (with the survivor's read right after), privacy deletions, gone records. */
function timelineEvents(timeline: Timeline): fc.Arbitrary<Observation[]> {
  const events = [...timeline.ends].map(([key, end]) => {
    const [type, id] = key.split(':') as [Type, string];
    return fc.record({ via, seenAt, privacy: fc.boolean() }).map(({ via, seenAt, privacy }): Observation => {
      if (end.into !== undefined) {
        return { kind: 'merged', ref: ref(type, end.into), version: at(end.version), via, seenAt, mergedIds: [id] };
      }
      return { kind: privacy ? 'privacyDeleted' : 'gone', ref: ref(type, id), version: at(end.version), via, seenAt };
    });
  });
  return fc.tuple(...events);
}

export function historyArb(options: HistoryOptions = {}): fc.Arbitrary<Observation[]> {
  return timelineArb
    .chain((timeline) => fc.tuple(timelineEvents(timeline), fc.array(observationArb(timeline, options), { minLength: 1, maxLength: 40 })))
    .chain(([events, observations]) => {
      // Any part of the world's history may reach us, in any order.
      const all = [...events, ...observations.filter((o): o is Observation => o !== undefined)];
      return all.length === 0 ? fc.constant<Observation[]>([]) : fc.shuffledSubarray(all, { minLength: 1 });
    })
    .filter((history) => history.length > 0);
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
