/**
 * Journal events, beside the push webhooks' and Paragon's formats: validation, identity and what
 * they mean for the mirror. Pure. The journal consumer stores them in the inbox (source `journal`)
 * and the processor plans them with the same rule as push webhooks. HubSpot documents the shapes
 * only loosely, so both forms seen in public clients are accepted: `occurredAt` as ISO text or
 * epoch ms; association events as
 * `fromObjectId/toObjectId/associationTypeId` or `objectId/associatedObjectId/associationType`.
 * The `action` decides what an event is; `type` is not relied on.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { objectTypeName, standardObjectType } from '../hubspot/object-types.ts';
import { toEpochMs } from '../hubspot/objects.ts';
import type { ObjectRef, Observation } from '../mirror/observation.ts';
import { associationChange } from './association-events.ts';
import { canonicalJson, quarantine, schemaReason, type IncomingEvent, type QuarantinedEvent } from './inbox.ts';

const ACTIONS = [
  'CREATE', 'UPDATE', 'DELETE', 'MERGE', 'RESTORE', 'SNAPSHOT', 'ASSOCIATION_ADDED', 'ASSOCIATION_REMOVED',
  'GDPR_DELETE', 'APP_INSTALL', 'APP_UNINSTALL', 'ADDED_TO_LIST', 'REMOVED_FROM_LIST',
] as const;
type JournalAction = (typeof ACTIONS)[number];

const id = z.union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,19}$/)]).transform(String);
const typeId = z.string().regex(/^\d+-\d+$/);
const timestamp = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : toEpochMs(value);
  if (!Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'not a timestamp (ISO 8601 or epoch ms)' });
    return z.NEVER;
  }
  return ms;
});

const eventSchema = z.looseObject({
  type: z.string().optional(),
  action: z.enum(ACTIONS),
  portalId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  occurredAt: timestamp,
  objectTypeId: typeId.optional(),
  objectId: id.optional(),
  propertyChanges: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  mergedObjectIds: z.array(id).optional(),
  primaryObjectId: id.optional(),
  newObjectId: id.optional(),
  fromObjectTypeId: typeId.optional(),
  fromObjectId: id.optional(),
  toObjectTypeId: typeId.optional(),
  toObjectId: id.optional(),
  associatedObjectTypeId: typeId.optional(),
  associatedObjectId: id.optional(),
  associationTypeId: z.union([z.number(), z.string()]).optional(),
  associationCategory: z.string().optional(),
  associationType: z.union([z.string(), z.number()]).optional(),
  eventTypeId: z.string().optional(),
});

type RawEvent = z.output<typeof eventSchema>;

/** What a journal event says, in hubsync's terms. */
export type JournalEvent =
  | { kind: 'object'; action: 'CREATE' | 'UPDATE' | 'DELETE' | 'MERGE' | 'RESTORE' | 'SNAPSHOT' | 'GDPR_DELETE'; ref: ObjectRef; occurredAt: number; propertyChanges?: Record<string, string | null>; mergedIds: string[] }
  /** `primary`: the event is about a primary association (see `isPrimary`). */
  | { kind: 'association'; ref: ObjectRef; occurredAt: number; toObjectType: string; toObjectId: string; associationType: string; removed: boolean; primary: boolean }
  /** App install/uninstall and list membership: kept in the inbox as a record, nothing for the mirror. */
  | { kind: 'other'; action: JournalAction; portalId: number; occurredAt: number; objectType: string | null; objectId: string | null };

/** Parses one event of a file: what it says, or why it cannot be used (it is quarantined). */
export function parseJournalEvent(raw: unknown): JournalEvent | { reason: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { reason: 'event is not a JSON object' };
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) return { reason: schemaReason(parsed.error.issues) };
  const e = parsed.data;
  switch (e.action) {
    case 'ASSOCIATION_ADDED':
    case 'ASSOCIATION_REMOVED':
      return association(e);
    case 'APP_INSTALL':
    case 'APP_UNINSTALL':
    case 'ADDED_TO_LIST':
    case 'REMOVED_FROM_LIST':
      return { kind: 'other', action: e.action, portalId: e.portalId, occurredAt: e.occurredAt, objectType: e.objectTypeId ? objectTypeName(e.objectTypeId) : null, objectId: e.objectId ?? null };
    default: {
      if (!e.objectTypeId) return { reason: `${e.action} without objectTypeId` };
      const objectId = e.action === 'MERGE' ? (e.objectId ?? e.newObjectId) : e.objectId;
      if (objectId === undefined) return { reason: `${e.action} without objectId` };
      const ref = { portalId: e.portalId, objectType: objectTypeName(e.objectTypeId), objectId };
      const mergedIds = [...new Set([e.primaryObjectId, ...(e.mergedObjectIds ?? [])].filter((m): m is string => m !== undefined && m !== objectId))];
      const changes = e.propertyChanges
        ? Object.fromEntries(Object.entries(e.propertyChanges).map(([name, value]) => [name, value === null ? null : String(value)]))
        : undefined;
      return { kind: 'object', action: e.action, ref, occurredAt: e.occurredAt, mergedIds, ...(changes ? { propertyChanges: changes } : {}) };
    }
  }
}

/** `fromObjectId/toObjectId/associationTypeId` (v4 guide) or `objectId/associatedObjectId/associationType`. */
function association(e: RawEvent): JournalEvent | { reason: string } {
  const fromType = e.fromObjectTypeId ?? e.objectTypeId;
  const fromId = e.fromObjectId ?? e.objectId;
  const toType = e.toObjectTypeId ?? e.associatedObjectTypeId;
  const toId = e.toObjectId ?? e.associatedObjectId;
  if (!fromType || fromId === undefined || !toType || toId === undefined) return { reason: `${e.action} without both ends (fromObjectId/toObjectId or objectId/associatedObjectId)` };
  return {
    kind: 'association',
    ref: { portalId: e.portalId, objectType: objectTypeName(fromType), objectId: fromId },
    occurredAt: e.occurredAt,
    toObjectType: objectTypeName(toType),
    toObjectId: toId,
    associationType: associationLabel(e, fromType, toType),
    removed: e.action === 'ASSOCIATION_REMOVED',
    primary: isPrimary(e),
  };
}

/** HubSpot's own primary association types (a contact's, deal's or ticket's primary company, from either side). */
const PRIMARY_TYPE_IDS = new Set(['1', '2', '5', '6', '25', '26']);

/**
 * Whether an association event is about a primary association: `isPrimary` as one source has it,
 * or one of HubSpot's primary type ids. Read generously: a wrong yes costs one read of the object.
 */
function isPrimary(e: RawEvent): boolean {
  if (e.isPrimary === true) return true;
  const category = e.associationCategory ?? 'HUBSPOT_DEFINED';
  return category === 'HUBSPOT_DEFINED' && PRIMARY_TYPE_IDS.has(String(e.associationTypeId ?? ''));
}

/**
 * The edge's type as push webhooks name it, so one edge seen on both paths is one row: a label
 * (`CONTACT_TO_COMPANY`) for HubSpot's own unlabeled types, the type id for custom labels.
 */
function associationLabel(e: RawEvent, fromType: string, toType: string): string {
  if (typeof e.associationType === 'string' && !/^\d+$/.test(e.associationType)) return e.associationType.toUpperCase();
  const id = String(e.associationTypeId ?? e.associationType ?? '');
  const from = standardObjectType(fromType);
  const to = standardObjectType(toType);
  const hubspotDefined = (e.associationCategory ?? 'HUBSPOT_DEFINED') === 'HUBSPOT_DEFINED';
  if (hubspotDefined && from && to) return `${from.singular}_TO_${to.singular}`.toUpperCase();
  return id || `${fromType}_TO_${toType}`;
}

/**
 * The inbox row of one event read from the entry at `offset`. Journal events carry no id; their
 * identity is their content, so a copy in a later file (HubSpot delivers at least once) is the
 * same row, counted as another delivery.
 */
export function journalIncoming(raw: unknown, offset: string): { event: IncomingEvent } | { quarantined: QuarantinedEvent } {
  const parsed = parseJournalEvent(raw);
  if ('reason' in parsed) return { quarantined: quarantine('journal', raw, parsed.reason) };
  const ref = parsed.kind === 'other' ? { portalId: parsed.portalId, objectType: parsed.objectType, objectId: parsed.objectId } : parsed.ref;
  const action = parsed.kind === 'association' ? (parsed.removed ? 'ASSOCIATION_REMOVED' : 'ASSOCIATION_ADDED') : parsed.action;
  return {
    event: {
      source: 'journal',
      dedupKey: `journal:${createHash('sha256').update(canonicalJson(raw)).digest('base64url')}`,
      portalId: ref.portalId,
      appId: null,
      // The entry the event was first read from: evidence, not identity.
      eventId: offset,
      subscriptionId: null,
      subscriptionType: `journal.${action}`,
      objectType: ref.objectType,
      objectId: ref.objectId,
      occurredAt: parsed.occurredAt,
      firstAttempt: null,
      lastAttempt: null,
      deliveries: 1,
      payload: raw as Record<string, unknown>,
    },
  };
}

/**
 * The observations an event gives the mirror (versioned by `occurredAt`, like push webhooks) and
 * the objects to read because the event does not carry them: a creation without values, a
 * restore and a merge's survivor.
 */
export function journalObservations(event: JournalEvent, seenAt: Date): { observations: Observation[]; hydrate: ObjectRef[] } {
  if (event.kind === 'other') return { observations: [], hydrate: [] };
  const base = { ref: event.ref, version: event.occurredAt, via: 'journal' as const, seenAt };
  if (event.kind === 'association') {
    return associationChange({ ...base, toObjectType: event.toObjectType, toObjectId: event.toObjectId, removed: event.removed }, event.primary);
  }
  const changes = Object.entries(event.propertyChanges ?? {}).map(([property, value]): Observation => ({ ...base, kind: 'propertyChange', property, value }));
  switch (event.action) {
    case 'CREATE':
      return { observations: [{ ...base, kind: 'created' }, ...changes], hydrate: event.propertyChanges ? [] : [event.ref] };
    case 'UPDATE':
      return { observations: changes, hydrate: event.propertyChanges ? [] : [event.ref] };
    case 'SNAPSHOT':
      // The values as of the snapshot, not changes made then: a read, dated like one.
      return { observations: event.propertyChanges ? [{ ...base, kind: 'snapshot', properties: event.propertyChanges }] : [], hydrate: event.propertyChanges ? [] : [event.ref] };
    case 'RESTORE':
      return { observations: [{ ...base, kind: 'restored' }, ...changes], hydrate: [event.ref] };
    case 'DELETE':
      return { observations: [{ ...base, kind: 'deleted' }], hydrate: [] };
    case 'GDPR_DELETE':
      return { observations: [{ ...base, kind: 'privacyDeleted' }], hydrate: [] };
    case 'MERGE':
      return { observations: [{ ...base, kind: 'merged', mergedIds: event.mergedIds }, ...changes], hydrate: [event.ref] };
  }
}
