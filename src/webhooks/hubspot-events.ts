/**
 * Webhooks-API events: validation (zod) and identity. Each array element is checked on its own,
 * so one bad event is quarantined while the rest of its batch is kept.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { objectTypeName } from '../hubspot/object-types.ts';
import { MAX_EPOCH_MS } from '../hubspot/objects.ts';
import { quarantine, schemaReason, type IncomingEvent, type ParsedBatch } from './inbox.ts';

const FAMILIES = ['contact', 'company', 'deal', 'ticket', 'line_item', 'product', 'object'] as const;
export const ACTIONS = ['creation', 'deletion', 'propertyChange', 'associationChange', 'restore', 'merge', 'privacyDeletion'] as const;
export type Action = (typeof ACTIONS)[number];

/** HubSpot sends ids as JSON numbers; accept numeric strings too, and keep them as text. */
const id = z.union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,19}$/)]).transform(String);
const int = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** Epoch ms a timestamp column holds. */
const epochMs = z.number().int().min(0).max(MAX_EPOCH_MS);

const eventSchema = z.looseObject({
  eventId: id,
  subscriptionId: int,
  portalId: int.positive(),
  appId: int.optional(),
  occurredAt: epochMs,
  subscriptionType: z.string().optional(),
  eventType: z.string().optional(),
  // Stored in an integer column.
  attemptNumber: z.number().int().nonnegative().max(2 ** 31 - 1).default(0),
  objectId: id.optional(),
  objectTypeId: z.string().regex(/^\d+-\d+$/).optional(),
  propertyName: z.string().min(1).optional(),
  propertyValue: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
  primaryObjectId: id.optional(),
  mergedObjectIds: z.array(id).optional(),
  newObjectId: id.optional(),
  associationType: z.string().min(1).optional(),
  fromObjectId: id.optional(),
  toObjectId: id.optional(),
  associationRemoved: z.boolean().optional(),
});

export type HubSpotEvent = z.output<typeof eventSchema>;

export interface EventKind {
  family: (typeof FAMILIES)[number];
  action: Action;
}

/** `contact.propertyChange` → { family: contact, action: propertyChange }; null when unsupported. */
export function parseSubscriptionType(type: string): EventKind | null {
  const [family, action, ...rest] = type.split('.');
  if (rest.length > 0) return null;
  if (!FAMILIES.includes(family as EventKind['family']) || !ACTIONS.includes(action as Action)) return null;
  return { family: family as EventKind['family'], action: action as Action };
}

/** The CRM v3 type name of an event's object, from its subscription family or `objectTypeId`. */
export function eventObjectType(event: HubSpotEvent, kind: EventKind): string {
  return kind.family === 'object' ? objectTypeName(event.objectTypeId ?? '') : objectTypeName(kind.family);
}

/** Parses one element of a batch: a stored event, or the reason it is quarantined. */
export function parseHubSpotEvent(raw: unknown): { event: HubSpotEvent; kind: EventKind } | { reason: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { reason: 'event is not a JSON object' };
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) return { reason: schemaReason(parsed.error) };
  const event = parsed.data;
  const type = event.subscriptionType ?? event.eventType;
  if (type === undefined) return { reason: 'neither subscriptionType nor eventType is set' };
  const kind = parseSubscriptionType(type);
  if (!kind) return { reason: `unsupported subscription type ${JSON.stringify(type).slice(0, 80)}` };
  if (kind.family === 'object' && event.objectTypeId === undefined) return { reason: 'object.* event without objectTypeId' };
  if (kind.family === 'product' && kind.action === 'associationChange') return { reason: 'product has no associationChange' };
  if (kind.action === 'associationChange') {
    if (event.associationType === undefined) return { reason: 'associationChange without associationType' };
    if ((event.fromObjectId ?? event.objectId) === undefined || event.toObjectId === undefined) {
      return { reason: 'associationChange without fromObjectId/toObjectId' };
    }
  } else if (event.objectId === undefined && !(kind.action === 'merge' && (event.newObjectId ?? event.primaryObjectId))) {
    return { reason: `${type} without objectId` };
  }
  if (kind.action === 'propertyChange' && event.propertyName === undefined) return { reason: 'propertyChange without propertyName' };
  return { event, kind };
}

/**
 * Identity of a Webhooks-API event: portal, subscription, eventId, object and time and type.
 * `attemptNumber` (and property values) are deliberately not part of it: a retry is the same event.
 */
export function hubspotDedupKey(event: HubSpotEvent, type: string): string {
  const object = event.objectId ?? `${event.fromObjectId ?? ''}>${event.toObjectId ?? ''}`;
  const identity = [event.portalId, event.subscriptionId, event.eventId, event.objectTypeId ?? '', object, event.occurredAt, type];
  return `hubspot:${createHash('sha256').update(JSON.stringify(identity)).digest('base64url')}`;
}

/** Validates every element of a Webhooks-API batch; invalid elements are quarantined, never dropped. */
export function parseHubSpotBatch(elements: readonly unknown[]): ParsedBatch {
  const batch: ParsedBatch = { events: [], quarantined: [] };
  for (const raw of elements) {
    const parsed = parseHubSpotEvent(raw);
    if ('reason' in parsed) {
      batch.quarantined.push(quarantine('hubspot', raw, parsed.reason));
      continue;
    }
    const { event, kind } = parsed;
    const type = `${kind.family}.${kind.action}`;
    const objectId =
      kind.action === 'associationChange'
        ? (event.fromObjectId ?? event.objectId)!
        : kind.action === 'merge'
          ? (event.newObjectId ?? event.objectId ?? event.primaryObjectId)!
          : event.objectId!;
    batch.events.push({
      source: 'hubspot',
      dedupKey: hubspotDedupKey(event, type),
      portalId: event.portalId,
      appId: event.appId ?? null,
      eventId: event.eventId,
      subscriptionId: event.subscriptionId,
      subscriptionType: type,
      objectType: eventObjectType(event, kind),
      objectId,
      occurredAt: event.occurredAt,
      firstAttempt: event.attemptNumber,
      lastAttempt: event.attemptNumber,
      deliveries: 1,
      payload: raw as Record<string, unknown>,
    });
  }
  return batch;
}
