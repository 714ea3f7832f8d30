/**
 * The mirror rule: how a batch of observations changes the mirrored objects. Pure, no I/O.
 *
 * Every piece of an object's state is a register that only moves "up" a total order, so applying
 * observations in any order, any number of times, gives the same result (a join-semilattice):
 * - each property: (version, value), newest version wins, equal versions pick the larger value;
 * - liveness: (version, deleted > live), from creates, deletes, restores, live and archived reads;
 * - merge redirect: (version, target) once set never cleared; the newest merge names the survivor;
 * - privacy deletion: a permanent flag (earliest version kept) that erases and blocks all values;
 * - created/updated times: min/max; first sight: min (seenAt, via).
 * Associations are registers keyed by (from, to, type): (version, removed > present).
 */
import { ledgerChangeKey, type LedgerSighting } from './ledger.ts';
import { objectKey, type AssociationObservation, type ObjectRef, type Observation, type Via } from './observation.ts';

export type Lifecycle = 'live' | 'deleted';

/**
 * Read-only bookkeeping HubSpot bumps on every change (and no webhook can subscribe to): kept in
 * the mirror but never counted as a change of its own in the ledger.
 */
const NOT_CHANGES: ReadonlySet<string> = new Set(['lastmodifieddate', 'hs_lastmodifieddate', 'hs_object_id', 'createdate']);

/** One mirrored object, as the rule sees it. Versions and times are epoch ms. */
export interface MirrorObject {
  portalId: number;
  objectType: string;
  objectId: string;
  properties: Record<string, string | null>;
  /** Version of each value in `properties` (same keys). */
  propertyVersions: Record<string, number>;
  lifecycle: Lifecycle | null;
  lifecycleVersion: number | null;
  /** The surviving object this id was merged into; permanent once set. */
  mergedInto: string | null;
  mergedVersion: number | null;
  /** GDPR deletion: values are gone for good; only the fact and its version remain. */
  privacyDeletedAt: number | null;
  /** HubSpot `createdate`. */
  hsCreatedAt: number | null;
  /** Newest version of anything observed about this object. */
  hsUpdatedAt: number | null;
  firstSeenVia: Via;
  firstSeenAt: number;
}

/** The newest known state of one association edge (one side; HubSpot sends one event per side). */
export interface AssociationState {
  portalId: number;
  fromObjectType: string;
  fromObjectId: string;
  toObjectType: string;
  toObjectId: string;
  associationType: string;
  removed: boolean;
  version: number;
}

export interface RuleResult {
  /** Objects whose state changed (or that are new), in key order. */
  objects: MirrorObject[];
  /** Per edge, the winning observation of this batch; merge into storage with `mergeAssociation`. */
  associations: AssociationState[];
  /** Every (object, property, version) the batch carried, with each path's first sight. */
  ledger: LedgerSighting[];
}

/** A deleted, merged-away or privacy-deleted object is not a live record. */
export function isArchived(object: MirrorObject): boolean {
  return object.lifecycle === 'deleted' || object.mergedInto !== null || object.privacyDeletedAt !== null;
}

/** Stable map key of an association edge. */
export function associationKey(a: Omit<AssociationState, 'removed' | 'version'>): string {
  return [a.portalId, a.fromObjectType, a.fromObjectId, a.toObjectType, a.toObjectId, a.associationType].join('\u0000');
}

/** Orders refs by (portal, type, id): the order rows are locked in, so concurrent batches cannot deadlock. */
export function compareRefs(a: ObjectRef, b: ObjectRef): number {
  return a.portalId - b.portalId || cmp(a.objectType, b.objectType) || cmp(a.objectId, b.objectId);
}

/** Every object row a batch may write: each observation's object and the ids merged into it. Sorted, unique. */
export function affectedRefs(observations: readonly Observation[]): ObjectRef[] {
  const refs = new Map<string, ObjectRef>();
  const add = (ref: ObjectRef) => refs.set(objectKey(ref), ref);
  for (const obs of observations) {
    if (obs.kind === 'association') continue;
    add(obs.ref);
    for (const id of mergedIdsOf(obs)) add({ ...obs.ref, objectId: id });
  }
  return [...refs.values()].sort(compareRefs);
}

/** A new, empty object first seen by `via` at `seenAt`. */
export function emptyObject(ref: ObjectRef, via: Via, seenAt: number): MirrorObject {
  return {
    portalId: ref.portalId,
    objectType: ref.objectType,
    objectId: ref.objectId,
    properties: {},
    propertyVersions: {},
    lifecycle: null,
    lifecycleVersion: null,
    mergedInto: null,
    mergedVersion: null,
    privacyDeletedAt: null,
    hsCreatedAt: null,
    hsUpdatedAt: null,
    firstSeenVia: via,
    firstSeenAt: seenAt,
  };
}

/**
 * Applies a batch to the stored objects it touches (`current`, keyed by `objectKey`; missing
 * objects are new). Returns the changed objects, the batch's association edges and its ledger
 * sightings. `current` is not modified.
 */
export function applyRule(current: ReadonlyMap<string, MirrorObject>, observations: readonly Observation[]): RuleResult {
  const working = new Map<string, MirrorObject>();
  const associations = new Map<string, AssociationState>();
  const ledger = new Map<string, LedgerSighting>();

  const touch = (ref: ObjectRef, obs: Observation): MirrorObject => {
    const key = objectKey(ref);
    let object = working.get(key);
    if (!object) {
      const stored = current.get(key);
      object = stored ? cloneObject(stored) : emptyObject(ref, obs.via, obs.seenAt.getTime());
      working.set(key, object);
    }
    const seenAt = obs.seenAt.getTime();
    if (seenAt < object.firstSeenAt || (seenAt === object.firstSeenAt && cmp(obs.via, object.firstSeenVia) < 0)) {
      object.firstSeenAt = seenAt;
      object.firstSeenVia = obs.via;
    }
    if (object.hsUpdatedAt === null || obs.version > object.hsUpdatedAt) object.hsUpdatedAt = obs.version;
    return object;
  };
  const sight = (ref: ObjectRef, property: string, version: number, obs: Observation, confirmOnly = false) => {
    const sighting: LedgerSighting = { ...pickRef(ref), property, version, via: obs.via, seenAt: obs.seenAt.getTime(), ...(confirmOnly ? { confirmOnly } : {}) };
    const key = `${ledgerChangeKey(sighting)}\u0000${obs.via}\u0000${confirmOnly}`;
    const seen = ledger.get(key);
    if (!seen || sighting.seenAt < seen.seenAt) ledger.set(key, sighting);
  };

  for (const obs of observations) {
    if (obs.kind === 'association') {
      applyAssociation(associations, obs);
      sight(obs.ref, `@association:${obs.associationType}:${obs.toObjectType}:${obs.toObjectId}`, obs.version, obs);
      continue;
    }
    const object = touch(obs.ref, obs);
    switch (obs.kind) {
      case 'snapshot': {
        // Every read attests the object's creation.
        if (obs.createdAt !== undefined) sight(obs.ref, '@created', obs.createdAt, obs);
        for (const [property, value] of Object.entries(obs.properties)) {
          const explicit = obs.propertyVersions?.[property];
          const version = explicit ?? obs.version;
          // Without per-property timestamps a read only says "this object changed at `version`";
          // count a property as changed then only if its value is news to us or already carries that version.
          if (NOT_CHANGES.has(property)) {
            // bookkeeping, never a change of its own
          } else if (explicit !== undefined || isSnapshotChange(object, property, value, version, obs.createdAt)) {
            sight(obs.ref, property, version, obs);
          } else if (object.propertyVersions[property] === version && object.properties[property] === value) {
            sight(obs.ref, property, version, obs, true);
          }
          setProperty(object, property, value, version);
        }
        if (obs.archivedAt !== undefined) setLifecycle(object, 'deleted', obs.archivedAt);
        else setLifecycle(object, 'live', obs.version);
        if (obs.createdAt !== undefined) setCreatedAt(object, obs.createdAt);
        for (const id of mergedIdsOf(obs)) setMerged(touch({ ...obs.ref, objectId: id }, obs), obs.ref.objectId, obs.version);
        break;
      }
      case 'propertyChange':
        sight(obs.ref, obs.property, obs.version, obs);
        setProperty(object, obs.property, obs.value, obs.version);
        break;
      case 'created':
        sight(obs.ref, '@created', obs.version, obs);
        setLifecycle(object, 'live', obs.version);
        setCreatedAt(object, obs.version);
        break;
      case 'restored':
        sight(obs.ref, '@restored', obs.version, obs);
        setLifecycle(object, 'live', obs.version);
        break;
      case 'deleted':
        sight(obs.ref, '@deleted', obs.version, obs);
        setLifecycle(object, 'deleted', obs.version);
        break;
      case 'privacyDeleted':
        sight(obs.ref, '@privacyDeleted', obs.version, obs);
        if (object.privacyDeletedAt === null || obs.version < object.privacyDeletedAt) object.privacyDeletedAt = obs.version;
        object.properties = {};
        object.propertyVersions = {};
        break;
      case 'merged':
        sight(obs.ref, '@merged', obs.version, obs);
        // The survivor exists from the merge on (HubSpot may mint it then).
        setLifecycle(object, 'live', obs.version);
        for (const id of mergedIdsOf(obs)) setMerged(touch({ ...obs.ref, objectId: id }, obs), obs.ref.objectId, obs.version);
        break;
    }
  }

  const objects = [...working.entries()]
    .filter(([key, object]) => {
      const stored = current.get(key);
      return !stored || !sameObject(stored, object);
    })
    .map(([, object]) => object)
    .sort(compareRefs);
  return {
    objects,
    associations: [...associations.values()].sort((a, b) => cmp(associationKey(a), associationKey(b))),
    ledger: [...ledger.values()],
  };
}

/** The association register: newest version wins, a removal wins a tie. Returns the winner. */
export function mergeAssociation(stored: AssociationState | undefined, incoming: AssociationState): AssociationState {
  if (!stored) return incoming;
  if (incoming.version > stored.version) return incoming;
  if (incoming.version === stored.version && incoming.removed && !stored.removed) return incoming;
  return stored;
}

/** Structural equality of two object states (property order ignored). */
export function sameObject(a: MirrorObject, b: MirrorObject): boolean {
  return (
    a.portalId === b.portalId &&
    a.objectType === b.objectType &&
    a.objectId === b.objectId &&
    a.lifecycle === b.lifecycle &&
    a.lifecycleVersion === b.lifecycleVersion &&
    a.mergedInto === b.mergedInto &&
    a.mergedVersion === b.mergedVersion &&
    a.privacyDeletedAt === b.privacyDeletedAt &&
    a.hsCreatedAt === b.hsCreatedAt &&
    a.hsUpdatedAt === b.hsUpdatedAt &&
    a.firstSeenVia === b.firstSeenVia &&
    a.firstSeenAt === b.firstSeenAt &&
    sameRecord(a.properties, b.properties) &&
    sameRecord(a.propertyVersions, b.propertyVersions)
  );
}

function applyAssociation(associations: Map<string, AssociationState>, obs: AssociationObservation): void {
  const edge: AssociationState = {
    portalId: obs.ref.portalId,
    fromObjectType: obs.ref.objectType,
    fromObjectId: obs.ref.objectId,
    toObjectType: obs.toObjectType,
    toObjectId: obs.toObjectId,
    associationType: obs.associationType,
    removed: obs.removed,
    version: obs.version,
  };
  const key = associationKey(edge);
  associations.set(key, mergeAssociation(associations.get(key), edge));
}

function setProperty(object: MirrorObject, property: string, value: string | null, version: number): void {
  // Erased values stay erased, whatever version a late or replayed read carries; the same for the
  // values of an id merged away.
  if (object.privacyDeletedAt !== null || object.mergedInto !== null) return;
  const stored = Object.hasOwn(object.propertyVersions, property) ? object.propertyVersions[property] : undefined;
  if (stored === undefined || version > stored || (version === stored && compareValues(value, object.properties[property] ?? null) > 0)) {
    object.properties[property] = value;
    object.propertyVersions[property] = version;
  }
}

function isSnapshotChange(object: MirrorObject, property: string, value: string | null, version: number, createdAt: number | undefined): boolean {
  // A value we have never seen cannot be dated (it may be years old), unless the object was
  // never modified after its creation.
  if (!Object.hasOwn(object.propertyVersions, property)) return createdAt === undefined || createdAt === version;
  const stored = object.propertyVersions[property]!;
  return stored <= version && object.properties[property] !== value;
}

function setLifecycle(object: MirrorObject, state: Lifecycle, version: number): void {
  const current = object.lifecycleVersion;
  if (current === null || version > current || (version === current && state === 'deleted')) {
    object.lifecycle = state;
    object.lifecycleVersion = version;
  }
}

function setMerged(object: MirrorObject, into: string, version: number): void {
  const current = object.mergedVersion;
  if (current === null || version > current || (version === current && cmp(into, object.mergedInto ?? '') > 0)) {
    object.mergedInto = into;
    object.mergedVersion = version;
  }
  // A merged-away id has no values of its own any more (HubSpot answers it with the survivor's):
  // keeping the old ones would also keep a person's data past the survivor's privacy deletion.
  object.properties = {};
  object.propertyVersions = {};
}

function setCreatedAt(object: MirrorObject, createdAt: number): void {
  if (object.hsCreatedAt === null || createdAt < object.hsCreatedAt) object.hsCreatedAt = createdAt;
}

function mergedIdsOf(obs: Observation): string[] {
  if (obs.kind !== 'merged' && obs.kind !== 'snapshot') return [];
  // A merge that keeps the primary's id lists it among the merged ids; it must not point at itself.
  return (obs.mergedIds ?? []).filter((id) => id !== obs.ref.objectId);
}

/** null sorts below every string; strings by code unit. Used only to break equal-version ties. */
function compareValues(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return cmp(a, b);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cloneObject(object: MirrorObject): MirrorObject {
  return { ...object, properties: { ...object.properties }, propertyVersions: { ...object.propertyVersions } };
}

function pickRef(ref: ObjectRef): ObjectRef {
  return { portalId: ref.portalId, objectType: ref.objectType, objectId: ref.objectId };
}

function sameRecord<T>(a: Record<string, T>, b: Record<string, T>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}
