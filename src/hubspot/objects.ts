import { storableText } from '../db/storable.ts';
import type { AssociationReadObservation, SnapshotObservation, Via } from '../mirror/observation.ts';
import { lastModifiedProperty } from './object-types.ts';

/** A CRM v3 object as the API returns it (search, list, batch read). */
export interface HubSpotObject {
  id: string;
  properties: Record<string, string | null>;
  createdAt?: string | Date;
  updatedAt?: string | Date;
  archived?: boolean;
  archivedAt?: string | Date;
}

/** Which queue a HubSpot call waits in: fresh webhook hydration first, backfills after polls, `hubsync verify` last. */
export type Priority = 'hydration' | 'incremental' | 'backfill' | 'verify';

/** Batch reads through the account's shared rate budget (used by webhook hydration). */
export interface HubSpotReader {
  /** Reads up to 100 ids; ids HubSpot does not know (or no longer has) come back in `missing`. */
  batchRead(
    portalId: number,
    objectType: string,
    ids: readonly string[],
    properties: readonly string[] | 'all',
    priority: Priority,
    /** Aborting gives up waiting (for the rate budget or the answer): the call rejects. */
    signal?: AbortSignal,
  ): Promise<{ results: HubSpotObject[]; missing: string[] }>;
  /** While the account's calls wait out a pause (a 429, the daily limit), until when (epoch ms). */
  pausedUntil?(portalId: number): number | undefined;
  /** Property names seen in webhook data: one the account's property list lacks makes it re-read. */
  observeProperties?(portalId: number, objectType: string, names: Iterable<string>): void;
  /** The full association sets of up to 100 ids to each type (v4 batch reads); rejects when a read cannot be had. */
  readAssociations?(
    portalId: number,
    objectType: string,
    toTypes: readonly string[],
    ids: readonly string[],
    priority: Priority,
    signal?: AbortSignal,
  ): Promise<AssociationReadObservation[]>;
  /**
   * hubsync's key for a type named in a portal (`PROJECT` → `2-3465`) from what is known now;
   * an unknown name makes the portal's schemas be read again (at most every few minutes).
   */
  objectType?(portalId: number, nameOrId: string): string | undefined;
}

/**
 * What to read of an object for a list of wanted properties: the list plus what the mirror rule
 * needs, the version (last-modified), the creation time and the ids merged into the object.
 */
export function mirrorProperties(objectType: string, properties: readonly string[]): readonly string[] {
  return [...new Set([...properties, lastModifiedProperty(objectType), 'createdate', 'hs_merged_object_ids'])];
}

/** The range of epoch ms stored as timestamps: years 1 to 9999 (what Postgres prints and reads back). */
const MIN_EPOCH_MS = -62_135_596_800_000;
export const MAX_EPOCH_MS = 253_402_300_799_999;

/** Epoch ms from HubSpot's timestamp forms: ISO strings, epoch-ms strings, Dates. NaN when absent or out of range. */
export function toEpochMs(value: string | Date | null | undefined): number {
  if (value === null || value === undefined || value === '') return Number.NaN;
  const ms = value instanceof Date ? value.getTime() : /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  return ms >= MIN_EPOCH_MS && ms <= MAX_EPOCH_MS ? ms : Number.NaN;
}

/** The object's version: its last-modified timestamp (the property, else `updatedAt`). */
export function objectVersion(objectType: string, object: HubSpotObject): number {
  const fromProperty = toEpochMs(object.properties[lastModifiedProperty(objectType)]);
  return Number.isFinite(fromProperty) ? fromProperty : toEpochMs(object.updatedAt);
}

/** The ids merged into a record (`hs_merged_object_ids`, `;`-separated), or none. */
export function mergedObjectIds(object: HubSpotObject): string[] {
  return object.properties.hs_merged_object_ids?.split(';').filter(Boolean) ?? [];
}

/** A live object read from the API, as an observation for the mirror. */
export function snapshotFromObject(
  portalId: number,
  objectType: string,
  object: HubSpotObject,
  via: Via,
  seenAt: Date,
): SnapshotObservation {
  const createdAt = toEpochMs(object.createdAt ?? object.properties.createdate);
  const mergedIds = mergedObjectIds(object);
  return {
    kind: 'snapshot',
    ref: { portalId, objectType, objectId: String(object.id) },
    version: objectVersion(objectType, object),
    via,
    seenAt,
    // A value Postgres cannot store (NUL, a lone surrogate) would fail its whole page, for ever.
    properties: Object.fromEntries(Object.entries(object.properties).map(([name, value]) => [name, typeof value === 'string' ? storableText(value) : value])),
    ...(Number.isFinite(createdAt) ? { createdAt } : {}),
    ...(object.properties.hs_merged_object_ids ? { mergedIds } : {}),
  };
}
