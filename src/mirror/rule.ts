/**
 * The mirror rule: how a batch of observations changes the mirrored objects. Pure, no I/O.
 *
 * Every piece of an object's state is a register that only moves "up" a total order, so applying
 * observations in any order, any number of times, gives the same result (a join-semilattice):
 * - each property: (version, value), newest version wins, equal versions pick the larger value;
 * - liveness: (version, deleted > live), from creates, deletes, restores, live and archived reads;
 * - merge redirect: (version, target) once set never cleared; the newest merge names the survivor,
 *   and `mergedInto` holds the FINAL survivor (A merged into B, then B into C: A points at C, what a
 *   read of A returns), so a merge also re-points the ids already merged into its loser;
 * - privacy deletion, and gone for good: permanent flags (earliest version kept) that erase and
 *   block all values;
 * - created/updated times: min/max; first sight: min (seenAt, via).
 * The registers themselves are in registers.ts; this file drives them with observations. The
 * associations between objects follow their own rule (edges.ts), keyed by these final survivors.
 *
 * Merge histories are HubSpot's: an id merged away is never merged again nor observed live at a
 * later version (its merges form a forest). Within that, the result does not depend on order.
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
import { associationLabel } from '../hubspot/object-types.ts';
import { cmp, setCreatedAt, setGone, setLifecycle, setMerged, setPrivacyDeleted, setProperty, type MirrorObject } from './registers.ts';

/**
 * Read-only bookkeeping HubSpot bumps on every change (and no webhook can subscribe to): kept in
 * the mirror but never counted as a change of its own in the ledger. `hs_merged_object_ids` is set
 * by a merge, which the ledger records as `@merged`; counting it too would report every merge (and,
 * empty, every creation) as a change the push paths "missed". `hs_createdate` is the creation time
 * of custom objects (and other types without `createdate`): the creation is `@created`.
 */
const NOT_CHANGES: ReadonlySet<string> = new Set(['lastmodifieddate', 'hs_lastmodifieddate', 'hs_object_id', 'createdate', 'hs_createdate', 'hs_merged_object_ids']);


export interface RuleResult {
  /** Objects whose state changed (or that are new), in key order. */
  objects: MirrorObject[];
  /** Every (object, property, version) the batch carried, with each path's first sight. */
  ledger: LedgerSighting[];
}

/** A deleted, merged-away, privacy-deleted or gone object is not a live record. */
export function isArchived(object: MirrorObject): boolean {
  return object.lifecycle === 'deleted' || object.mergedInto !== null || object.privacyDeletedAt !== null || object.goneAt !== null;
}

/** Whether the object's values are erased for good (a privacy deletion, or gone). */
export function isErased(object: MirrorObject): boolean {
  return object.privacyDeletedAt !== null || object.goneAt !== null;
}

/** Orders refs by (portal, type, id): the order rows are locked in, so concurrent batches cannot deadlock. */
export function compareRefs(a: ObjectRef, b: ObjectRef): number {
  return a.portalId - b.portalId || cmp(a.objectType, b.objectType) || cmp(a.objectId, b.objectId);
}

/**
 * Every object row a batch may write: each observation's object and the ids merged into it.
 * Sorted, unique. The rows already pointing at those merged ids are written too (re-pointed at the
 * final survivor): the store finds and locks them (`mergedIds`).
 */
export function affectedRefs(observations: readonly Observation[]): ObjectRef[] {
  const refs = new Map<string, ObjectRef>();
  const add = (ref: ObjectRef) => refs.set(objectKey(ref), ref);
  for (const obs of observations) {
    if (obs.kind === 'association' || obs.kind === 'associationRead') continue;
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
    goneAt: null,
    hsCreatedAt: null,
    hsUpdatedAt: null,
    firstSeenVia: via,
    firstSeenAt: seenAt,
  };
}

/** The ids a batch redirects (merged into its objects): the rows pointing at them are re-pointed too. */
export function mergedIds(observations: readonly Observation[]): ObjectRef[] {
  return observations.flatMap((obs) => mergedIdsOf(obs).map((objectId) => ({ ...obs.ref, objectId })));
}

/**
 * Applies a batch to the stored objects it touches (`current`, keyed by `objectKey`, including
 * the rows pointing at the batch's `mergedIds`; missing objects are new). Returns the changed
 * objects and the batch's ledger sightings. `current` is not modified. Association observations
 * only leave ledger sightings here; their edges are applied by `applyEdgeRule`.
 */
export function applyRule(current: ReadonlyMap<string, MirrorObject>, observations: readonly Observation[]): RuleResult {
  const batch: Batch = { current, objects: new Map(), ledger: new Map() };
  for (const obs of observations) {
    switch (obs.kind) {
      case 'association':
        sightAssociation(batch, obs);
        break;
      case 'associationRead':
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
  pointAtFinalSurvivors(batch);
  return { objects: changedObjects(batch), ledger: [...batch.ledger.values()] };
}

/** A batch being applied: copies of the objects it touched, its edges, its ledger sightings. */
interface Batch {
  readonly current: ReadonlyMap<string, MirrorObject>;
  readonly objects: Map<string, MirrorObject>;
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
    case 'gone':
      setGone(object, obs.version);
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

/** A single edge's change is a change of its `ref` end, for the ledger. */
function sightAssociation(batch: Batch, obs: AssociationObservation): void {
  const label = associationLabel(obs.ref.objectType, obs.toObjectType);
  sight(batch, obs.ref, `@association:${label}:${obs.toObjectType}:${obs.toObjectId}`, obs.version, obs);
}

/**
 * Makes every redirect name the final survivor: an id merged into one that was itself merged
 * away points past it. Runs over every object the batch holds (the rows pointing at the batch's
 * merged ids included), after all its merges, so the order of merges within and across batches
 * does not matter. The redirect's version stays that of the id's own newest merge.
 */
function pointAtFinalSurvivors(batch: Batch): void {
  const keys = new Set([...batch.current.keys(), ...batch.objects.keys()]);
  for (const key of keys) {
    const object = batch.objects.get(key) ?? batch.current.get(key)!;
    if (object.mergedInto === null) continue;
    const survivor = finalSurvivor((k) => batch.objects.get(k) ?? batch.current.get(k), object);
    if (survivor === object.mergedInto) continue;
    let working = batch.objects.get(key);
    if (!working) batch.objects.set(key, (working = cloneObject(object)));
    working.mergedInto = survivor;
  }
}

/**
 * The id a chain of redirects from `object` ends at (its own id when it is not merged away). A
 * cycle, which HubSpot cannot produce, ends the walk where it closes.
 */
export function finalSurvivor(lookup: (key: string) => MirrorObject | undefined, object: ObjectRef & { mergedInto: string | null }): string {
  const seen = new Set<string>([object.objectId]);
  let id = object.objectId;
  let next = object.mergedInto;
  while (next !== null && !seen.has(next)) {
    seen.add(next);
    id = next;
    next = lookup(objectKey({ ...object, objectId: next }))?.mergedInto ?? null;
  }
  return id;
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
    a.goneAt === b.goneAt &&
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
