/**
 * Stored webhook events as mirror observations. Pure. An event says what changed and when
 * (`occurredAt` is the version); creation, restore and merge also need the record itself, so
 * the plan names the objects to hydrate by a batch read.
 */
import { snapshotFromObject, type HubSpotObject } from '../hubspot/objects.ts';
import type { ObjectRef, Observation, Via } from '../mirror/observation.ts';
import { associationLabelWords, standardObjectType } from '../hubspot/object-types.ts';
import { associationChange } from './association-events.ts';
import { parseHubSpotEvent, type EventKind, type HubSpotEvent } from './hubspot-events.ts';
import { journalObservations, parseJournalEvent } from './journal-events.ts';
import type { WebhookSource } from './inbox.ts';
import { paragonRecords } from './paragon-events.ts';
import { recordSnapshot, unversioned, type RecordSnapshot } from './records.ts';

/** The columns of a stored event the plan needs. */
export interface StoredEvent {
  id: number;
  source: WebhookSource;
  portal_id: number | null;
  object_type: string | null;
  object_id: string | null;
  /** A Date, or epoch ms as a claim reads it. */
  received_at: Date | number;
  payload: Record<string, unknown>;
}

export type EventPlan =
  /** `readVia`: the path the hydration reads are credited to (default `hydration`, the push side's). */
  | { id: number; ok: true; observations: Observation[]; hydrate: ObjectRef[]; readVia?: Via }
  /** The event cannot become an observation (with `retry`: not until the portal's custom types are known). */
  | { id: number; ok: false; error: string; retry?: boolean };

/**
 * hubsync's key for a type named in a portal (`PROJECT` → `2-3465`), from what is known without a
 * call; undefined when unknown. Default: HubSpot's own types only.
 */
export type TypeLookup = (portalId: number, nameOrId: string) => string | undefined;

const standardTypes: TypeLookup = (_portalId, nameOrId) => standardObjectType(nameOrId)?.name;

/** Plans one stored event. */
export function planEvent(event: StoredEvent, types: TypeLookup = standardTypes): EventPlan {
  const seenAt = new Date(event.received_at);
  if (event.source === 'hubspot') {
    const parsed = parseHubSpotEvent(event.payload);
    if ('reason' in parsed) return { id: event.id, ok: false, error: `stored event no longer validates: ${parsed.reason}` };
    const planned = hubspotObservations(parsed.event, parsed.kind, event, seenAt, types);
    return typeof planned === 'string' ? { id: event.id, ok: false, error: planned, retry: true } : { id: event.id, ok: true, ...planned };
  }
  if (event.source === 'journal') {
    const parsed = parseJournalEvent(event.payload);
    if ('reason' in parsed) return { id: event.id, ok: false, error: `stored event no longer validates: ${parsed.reason}` };
    return { id: event.id, ok: true, ...journalObservations(parsed, seenAt), readVia: 'journal' };
  }
  const hints = { portalId: event.portal_id === null ? undefined : String(event.portal_id), objectType: event.object_type ?? undefined };
  const record = event.source === 'paragon' ? paragonRecords(event.payload.payload)[0] ?? {} : event.payload;
  const snapshot = recordSnapshot(record, hints);
  if (typeof snapshot === 'string') return { id: event.id, ok: false, error: snapshot };
  if (snapshot.version !== undefined) return { id: event.id, ok: true, observations: [snapshotObservation(snapshot, snapshot.version, event.source, seenAt)], hydrate: [] };
  if (event.source !== 'paragon') return { id: event.id, ok: false, error: unversioned(snapshot) };
  // A Paragon record without a version cannot be ordered against others: it says the record
  // changed, so read the record itself (credited to Paragon, whose event asked for the read).
  return { id: event.id, ok: true, observations: [], hydrate: [{ portalId: snapshot.portalId, objectType: snapshot.objectType, objectId: snapshot.objectId }], readVia: 'paragon' };
}

function snapshotObservation(snapshot: RecordSnapshot, version: number, via: Via, seenAt: Date): Observation {
  const object: HubSpotObject = {
    id: snapshot.objectId,
    properties: snapshot.properties,
    updatedAt: new Date(version),
    ...(snapshot.createdAt !== undefined ? { createdAt: new Date(snapshot.createdAt) } : {}),
  };
  const observation = snapshotFromObject(snapshot.portalId, snapshot.objectType, object, via, seenAt);
  return snapshot.archived ? { ...observation, archivedAt: version } : observation;
}

function hubspotObservations(e: HubSpotEvent, kind: EventKind, stored: StoredEvent, seenAt: Date, types: TypeLookup): { observations: Observation[]; hydrate: ObjectRef[] } | string {
  const objectType = stored.object_type!;
  const ref: ObjectRef = { portalId: e.portalId, objectType, objectId: stored.object_id! };
  const base = { ref, version: e.occurredAt, via: 'webhook' as const, seenAt };
  switch (kind.action) {
    case 'propertyChange':
      return {
        observations: [{ ...base, kind: 'propertyChange', property: e.propertyName!, value: e.propertyValue === null || e.propertyValue === undefined ? null : String(e.propertyValue) }],
        hydrate: [],
      };
    case 'creation':
      return { observations: [{ ...base, kind: 'created' }], hydrate: [ref] };
    case 'restore':
      return { observations: [{ ...base, kind: 'restored' }], hydrate: [ref] };
    case 'deletion':
      return { observations: [{ ...base, kind: 'deleted' }], hydrate: [] };
    case 'privacyDeletion':
      return { observations: [{ ...base, kind: 'privacyDeleted' }], hydrate: [] };
    case 'merge': {
      // The survivor (possibly a new id) absorbs the primary and the merged ids.
      const merged = [e.primaryObjectId, ...(e.mergedObjectIds ?? []), e.objectId].filter((id): id is string => id !== undefined && id !== ref.objectId);
      return { observations: [{ ...base, kind: 'merged', mergedIds: [...new Set(merged)] }], hydrate: [ref] };
    }
    case 'associationChange': {
      const toObjectType = associationTarget(e, types);
      if (toObjectType === undefined) return `association target type of ${JSON.stringify(e.associationType)} is unknown in portal ${e.portalId}`;
      return associationChange({ ...base, toObjectType, toObjectId: e.toObjectId!, removed: e.associationRemoved ?? false }, e.isPrimaryAssociation === true);
    }
  }
}

/**
 * The type at the other end of an association event: its `toObjectTypeId` when sent, else the
 * second word of the label (`COMPANY_TO_PROJECT`), resolved in the portal (a custom object's
 * label word names its type id).
 */
function associationTarget(e: HubSpotEvent, types: TypeLookup): string | undefined {
  const toTypeId = (e as Record<string, unknown>).toObjectTypeId;
  if (typeof toTypeId === 'string' && /^\d+-\d+$/.test(toTypeId)) return types(e.portalId, toTypeId);
  const words = associationLabelWords(e.associationType ?? '');
  return words ? types(e.portalId, words[1]) : undefined;
}

/** Groups refs to read by (portal, type), unique ids, in chunks of at most `chunk` (HubSpot's batch read takes 100). */
export function hydrationReads(refs: readonly ObjectRef[], chunk = 100): { portalId: number; objectType: string; ids: string[] }[] {
  const groups = new Map<string, { portalId: number; objectType: string; ids: Set<string> }>();
  for (const ref of refs) {
    const key = `${ref.portalId}\u0000${ref.objectType}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { portalId: ref.portalId, objectType: ref.objectType, ids: new Set() }));
    group.ids.add(ref.objectId);
  }
  const reads: { portalId: number; objectType: string; ids: string[] }[] = [];
  for (const group of groups.values()) {
    const ids = [...group.ids];
    for (let i = 0; i < ids.length; i += chunk) reads.push({ portalId: group.portalId, objectType: group.objectType, ids: ids.slice(i, i + chunk) });
  }
  return reads;
}
