/**
 * The registers a mirrored object is made of. Each only moves "up" a total order, so applying
 * the same facts in any order, any number of times, leaves the same state (a join-semilattice);
 * `applyRule` (rule.ts) is these registers driven by observations. They mutate the object given.
 */
import type { Via } from './observation.ts';

export type Lifecycle = 'live' | 'deleted';

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
  /** When reads first showed the record neither live nor archived: erased as for a privacy deletion. */
  goneAt: number | null;
  /** HubSpot `createdate`. */
  hsCreatedAt: number | null;
  /** Newest version of anything observed about this object. */
  hsUpdatedAt: number | null;
  firstSeenVia: Via;
  firstSeenAt: number;
}

/** A property: (version, value); the newest version wins, equal versions keep the larger value. */
export function setProperty(object: MirrorObject, property: string, value: string | null, version: number): void {
  // Erased values stay erased, whatever version a late or replayed read carries; the same for the
  // values of an id merged away.
  if (object.privacyDeletedAt !== null || object.goneAt !== null || object.mergedInto !== null) return;
  const stored = Object.hasOwn(object.propertyVersions, property) ? object.propertyVersions[property] : undefined;
  if (stored === undefined || version > stored || (version === stored && compareValues(value, object.properties[property] ?? null) > 0)) {
    object.properties[property] = value;
    object.propertyVersions[property] = version;
  }
}

/** Liveness: (version, state); the newest version wins, a deletion wins a tie. */
export function setLifecycle(object: MirrorObject, state: Lifecycle, version: number): void {
  const current = object.lifecycleVersion;
  if (current === null || version > current || (version === current && state === 'deleted')) {
    object.lifecycle = state;
    object.lifecycleVersion = version;
  }
}

/** The merge redirect: (version, target), permanent once set; the newest merge names the survivor. */
export function setMerged(object: MirrorObject, into: string, version: number): void {
  const current = object.mergedVersion;
  if (current === null || version > current || (version === current && cmp(into, object.mergedInto ?? '') > 0)) {
    object.mergedInto = into;
    object.mergedVersion = version;
  }
  // A merged-away id has no values of its own any more (HubSpot answers it with the survivor's):
  // keeping the old ones would also keep a person's data past the survivor's privacy deletion.
  erase(object);
}

/** Privacy deletion: a permanent flag (the earliest version kept) that erases every value. */
export function setPrivacyDeleted(object: MirrorObject, version: number): void {
  if (object.privacyDeletedAt === null || version < object.privacyDeletedAt) object.privacyDeletedAt = version;
  erase(object);
}

/** Gone for good (reads show the record neither live nor archived): like a privacy deletion, permanent and erasing. */
export function setGone(object: MirrorObject, version: number): void {
  if (object.goneAt === null || version < object.goneAt) object.goneAt = version;
  erase(object);
}

/** HubSpot's `createdate`: the earliest seen. */
export function setCreatedAt(object: MirrorObject, createdAt: number): void {
  if (object.hsCreatedAt === null || createdAt < object.hsCreatedAt) object.hsCreatedAt = createdAt;
}

function erase(object: MirrorObject): void {
  object.properties = {};
  object.propertyVersions = {};
}

/** null sorts below every string; strings by code unit. Used only to break equal-version ties. */
function compareValues(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return cmp(a, b);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
