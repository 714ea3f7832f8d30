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
 * The registers themselves are in registers.ts; this file drives them with observations.
 */
import { ledgerChangeKey, type LedgerSighting } from './ledger.ts';
import {
  objectKey,
  type AssociationObservation,
  type LifecycleObservation,
  type MergeObservation,
  type ObjectRef,
  type Observation,
  type SnapshotObservation,
  type Via,
} from './observation.ts';
import { cmp, setCreatedAt, setLifecycle, setMerged, setPrivacyDeleted, setProperty, type MirrorObject } from './registers.ts';

/**
 * Read-only bookkeeping HubSpot bumps on every change (and no webhook can subscribe to): kept in
 * the mirror but never counted as a change of its own in the ledger.
 */
const NOT_CHANGES: ReadonlySet<string> = new Set(['lastmodifieddate', 'hs_lastmodifieddate', 'hs_object_id', 'createdate']);


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
  const batch: Batch = { current, objects: new Map(), associations: new Map(), ledger: new Map() };
  for (const obs of observations) {
    switch (obs.kind) {
      case 'association':
        applyAssociation(batch, obs);
        break;
      case 'snapshot':
        applySnapshot(batch, obs);
        break;
      case 'propertyChange':
        sight(batch, obs.ref, obs.property, obs.version, obs);
        setProperty(touch(batch, obs.ref, obs), obs.property, obs.value, obs.version);
        break;
      case 'merged':
        applyMerge(batch, obs);
        break;
      default:
        applyLifecycleEvent(batch, obs);
    }
  }
  return {
    objects: changedObjects(batch),
    associations: [...batch.associations.values()].sort((a, b) => cmp(associationKey(a), associationKey(b))),
    ledger: [...batch.ledger.values()],
  };
}

/** A batch being applied: copies of the objects it touched, its edges, its ledger sightings. */
interface Batch {
  readonly current: ReadonlyMap<string, MirrorObject>;
  readonly objects: Map<string, MirrorObject>;
  readonly associations: Map<string, AssociationState>;
  readonly ledger: Map<string, LedgerSighting>;
}

/** The batch's working copy of an object (stored or new), with the observation's sighting times folded in. */
function touch(batch: Batch, ref: ObjectRef, obs: Observation): MirrorObject {
  const key = objectKey(ref);
  let object = batch.objects.get(key);
  if (!object) {
    const stored = batch.current.get(key);
    object = stored ? cloneObject(stored) : emptyObject(ref, obs.via, obs.seenAt.getTime());
    batch.objects.set(key, object);
  }
  const seenAt = obs.seenAt.getTime();
  if (seenAt < object.firstSeenAt || (seenAt === object.firstSeenAt && cmp(obs.via, object.firstSeenVia) < 0)) {
    object.firstSeenAt = seenAt;
    object.firstSeenVia = obs.via;
  }
  if (object.hsUpdatedAt === null || obs.version > object.hsUpdatedAt) object.hsUpdatedAt = obs.version;
  return object;
}

/** Records that the observation's path saw (object, property, version); keeps the earliest sight per path. */
function sight(batch: Batch, ref: ObjectRef, property: string, version: number, obs: Observation, confirmOnly = false): void {
  const sighting: LedgerSighting = { ...pickRef(ref), property, version, via: obs.via, seenAt: obs.seenAt.getTime(), ...(confirmOnly ? { confirmOnly } : {}) };
  const key = `${ledgerChangeKey(sighting)}\u0000${obs.via}\u0000${confirmOnly}`;
  const seen = batch.ledger.get(key);
  if (!seen || sighting.seenAt < seen.seenAt) batch.ledger.set(key, sighting);
}

function applySnapshot(batch: Batch, obs: SnapshotObservation): void {
  const object = touch(batch, obs.ref, obs);
  // Every read attests the object's creation.
  if (obs.createdAt !== undefined) sight(batch, obs.ref, '@created', obs.createdAt, obs);
  for (const [property, value] of Object.entries(obs.properties)) {
    const explicit = obs.propertyVersions?.[property];
    const version = explicit ?? obs.version;
    // Without per-property timestamps a read only says "this object changed at `version`";
    // count a property as changed then only if its value is news to us or already carries that version.
    if (NOT_CHANGES.has(property)) {
      // bookkeeping, never a change of its own
    } else if (explicit !== undefined || isSnapshotChange(object, property, value, version, obs.createdAt)) {
      sight(batch, obs.ref, property, version, obs);
    } else if (object.propertyVersions[property] === version && object.properties[property] === value) {
      sight(batch, obs.ref, property, version, obs, true);
    }
    setProperty(object, property, value, version);
  }
  if (obs.archivedAt !== undefined) setLifecycle(object, 'deleted', obs.archivedAt);
  else setLifecycle(object, 'live', obs.version);
  if (obs.createdAt !== undefined) setCreatedAt(object, obs.createdAt);
  redirectMerged(batch, obs);
}

function applyLifecycleEvent(batch: Batch, obs: LifecycleObservation): void {
  const object = touch(batch, obs.ref, obs);
  sight(batch, obs.ref, `@${obs.kind}`, obs.version, obs);
  switch (obs.kind) {
    case 'created':
      setLifecycle(object, 'live', obs.version);
      setCreatedAt(object, obs.version);
      break;
    case 'restored':
      setLifecycle(object, 'live', obs.version);
      break;
    case 'deleted':
      setLifecycle(object, 'deleted', obs.version);
      break;
    case 'privacyDeleted':
      setPrivacyDeleted(object, obs.version);
      break;
  }
}

function applyMerge(batch: Batch, obs: MergeObservation): void {
  const object = touch(batch, obs.ref, obs);
  sight(batch, obs.ref, '@merged', obs.version, obs);
  // The survivor exists from the merge on (HubSpot may mint it then).
  setLifecycle(object, 'live', obs.version);
  redirectMerged(batch, obs);
}

/** Points the ids a merge or a read names as merged (`hs_merged_object_ids`) at the observed object. */
function redirectMerged(batch: Batch, obs: MergeObservation | SnapshotObservation): void {
  for (const id of mergedIdsOf(obs)) setMerged(touch(batch, { ...obs.ref, objectId: id }, obs), obs.ref.objectId, obs.version);
}

function applyAssociation(batch: Batch, obs: AssociationObservation): void {
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
  batch.associations.set(key, mergeAssociation(batch.associations.get(key), edge));
  sight(batch, obs.ref, `@association:${obs.associationType}:${obs.toObjectType}:${obs.toObjectId}`, obs.version, obs);
}

/** The objects whose state the batch changed (or created), in key order. */
function changedObjects(batch: Batch): MirrorObject[] {
  return [...batch.objects.entries()]
    .filter(([key, object]) => {
      const stored = batch.current.get(key);
      return !stored || !sameObject(stored, object);
    })
    .map(([, object]) => object)
    .sort(compareRefs);
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

/** Whether an undated read's value is evidence of a change at the read's version (see applySnapshot). */
function isSnapshotChange(object: MirrorObject, property: string, value: string | null, version: number, createdAt: number | undefined): boolean {
  // A value we have never seen cannot be dated (it may be years old), unless the object was
  // never modified after its creation.
  if (!Object.hasOwn(object.propertyVersions, property)) return createdAt === undefined || createdAt === version;
  const stored = object.propertyVersions[property]!;
  return stored <= version && object.properties[property] !== value;
}

function mergedIdsOf(obs: Observation): string[] {
  if (obs.kind !== 'merged' && obs.kind !== 'snapshot') return [];
  // A merge that keeps the primary's id lists it among the merged ids; it must not point at itself.
  return (obs.mergedIds ?? []).filter((id) => id !== obs.ref.objectId);
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
