/**
 * Record snapshots pushed to us: HubSpot workflow "send a webhook" posts (a JSON object of one
 * record's properties, no event id) and Paragon trigger webhooks (an event whose payload is a
 * record). Both become a snapshot whose version is the record's last-modified timestamp. Pure;
 * the receiver uses it to validate and key the event, the processor to build the observation.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { lastModifiedProperty, objectTypeName } from '../hubspot/object-types.ts';
import { toEpochMs } from '../hubspot/objects.ts';
import { contentHash, quarantine, type IncomingEvent, type ParsedBatch } from './inbox.ts';

export interface RecordSnapshot {
  portalId: number;
  objectType: string;
  objectId: string;
  properties: Record<string, string | null>;
  /** The record's last-modified timestamp, epoch ms. */
  version: number;
  createdAt?: number;
  archived?: boolean;
}

/** Where to find what a post does not say itself: query parameters of the webhook URL, or the one configured portal. */
export interface RecordHints {
  portalId?: string | undefined;
  objectType?: string | undefined;
  defaultPortalId?: number | undefined;
}

type Json = Record<string, unknown>;

const ID_KEYS = ['hs_object_id', 'objectId', 'id', 'vid', 'canonical-vid'];
const PORTAL_KEYS = ['portalId', 'portal-id', 'portal_id', 'hs_portal_id'];
const META_KEYS = new Set(['id', 'objectId', 'objectType', 'portalId', 'portal-id', 'createdAt', 'updatedAt', 'archived', 'archivedAt', 'properties', 'associations']);

/** Extracts a record snapshot from a post or payload; a string says why it cannot. */
export function recordSnapshot(record: Json, hints: RecordHints, context: Json = {}): RecordSnapshot | string {
  const properties = propertiesOf(record);
  const objectType = typeOf(hints.objectType ?? text(context.objectType) ?? text(record.objectType), properties);
  if (!objectType) return 'cannot tell the object type: add ?objectType=<type> to the webhook URL';
  const portalText = hints.portalId ?? firstText(context, PORTAL_KEYS) ?? firstText(record, PORTAL_KEYS) ?? firstText(properties, PORTAL_KEYS);
  const portalId = portalText !== undefined ? Number(portalText) : hints.defaultPortalId;
  if (portalId === undefined || !Number.isSafeInteger(portalId) || portalId <= 0) {
    return 'cannot tell the portal: add ?portalId=<id> to the webhook URL';
  }
  const objectId = firstText(record, ID_KEYS) ?? firstText(properties, ID_KEYS);
  if (objectId === undefined || !/^[\w-]{1,64}$/.test(objectId)) return 'no record id (hs_object_id, id or objectId)';
  const version = [properties[lastModifiedProperty(objectType)], properties.hs_lastmodifieddate, text(record.updatedAt)]
    .map((value) => toEpochMs(value ?? undefined))
    .find(Number.isFinite);
  if (version === undefined) return `no ${lastModifiedProperty(objectType)} (or updatedAt): a snapshot without a version cannot be ordered`;
  const createdAt = toEpochMs(properties.createdate ?? text(record.createdAt));
  return {
    portalId,
    objectType,
    objectId,
    properties,
    version,
    ...(Number.isFinite(createdAt) ? { createdAt } : {}),
    ...(record.archived === true ? { archived: true } : {}),
  };
}

/** `{a: 'x'}`, `{properties: {a: 'x'}}` and the legacy `{properties: {a: {value: 'x'}}}` all give `{a: 'x'}`. */
function propertiesOf(record: Json): Record<string, string | null> {
  const nested = record.properties;
  const source = nested !== null && typeof nested === 'object' && !Array.isArray(nested) ? (nested as Json) : record;
  const out: Record<string, string | null> = {};
  for (const [key, raw] of Object.entries(source)) {
    if (source === record && META_KEYS.has(key)) continue;
    const value = raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'value' in raw ? (raw as Json).value : raw;
    if (value === null || value === undefined) out[key] = null;
    else if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
  }
  return out;
}

function typeOf(named: string | undefined, properties: Record<string, string | null>): string | null {
  if (named) {
    const type = objectTypeName(named.toLowerCase());
    return /^[a-z0-9_-]+$/i.test(type) ? type : null;
  }
  // Only contacts carry `lastmodifieddate`; anything else must say what it is.
  return 'lastmodifieddate' in properties && !('hs_lastmodifieddate' in properties) ? 'contacts' : null;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function firstText(source: Json, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = text(source[key]);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** A workflow post: one stored event keyed on (portal, object, content hash, version), or a quarantined one. */
export function parseWorkflowPost(body: Json, hints: RecordHints): ParsedBatch {
  const snapshot = recordSnapshot(body, hints);
  if (typeof snapshot === 'string') return { events: [], quarantined: [quarantine('workflow', body, snapshot)] };
  const identity = [snapshot.portalId, snapshot.objectType, snapshot.objectId, contentHash(snapshot.properties), snapshot.version];
  const event: IncomingEvent = {
    source: 'workflow',
    dedupKey: `workflow:${createHash('sha256').update(JSON.stringify(identity)).digest('base64url')}`,
    portalId: snapshot.portalId,
    appId: null,
    eventId: null,
    subscriptionId: null,
    subscriptionType: 'workflow.snapshot',
    objectType: snapshot.objectType,
    objectId: snapshot.objectId,
    occurredAt: snapshot.version,
    firstAttempt: null,
    lastAttempt: null,
    deliveries: 1,
    // The resolved portal and type live in the row's columns; the processor reads them from there.
    payload: body,
  };
  return { events: [event], quarantined: [] };
}

const paragonSchema = z.looseObject({
  eventId: z.string().min(1).max(200),
  userId: z.string().optional(),
  triggerType: z.string().optional(),
  dateReceived: z.union([z.string(), z.number()]).optional(),
  payload: z.record(z.string(), z.unknown()),
  triggerSubscriptionMetadata: z.record(z.string(), z.unknown()).nullish(),
});

/** The record inside a Paragon event's payload (`payload.record`, `payload.data`, or the payload itself). */
export function paragonRecord(payload: Json): Json {
  for (const key of ['record', 'data', 'object']) {
    const value = payload[key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  }
  return payload;
}

/** Object type named by a Paragon trigger type, e.g. HUBSPOT_RECORD_CREATED with recordType Contact, or *_CONTACT_*. */
function paragonObjectType(event: Json, metadata: Json): string | undefined {
  const named = text(metadata.objectType) ?? text(metadata.recordType) ?? text((event.payload as Json).objectType) ?? text((event.payload as Json).recordType);
  if (named) return named;
  const match = /(CONTACT|COMPAN|DEAL|TICKET)/.exec(text(event.triggerType) ?? '');
  return match ? { CONTACT: 'contacts', COMPAN: 'companies', DEAL: 'deals', TICKET: 'tickets' }[match[1] as 'CONTACT'] : undefined;
}

/**
 * The snapshot a Paragon event carries, or why there is none. Portal and type come from the
 * webhook URL's query, the subscription's `webhookOverride.metadata` ({portalId, objectType}),
 * the payload, or the trigger type, in that order.
 */
export function paragonSnapshot(event: Json, hints: RecordHints): RecordSnapshot | string {
  const payload = event.payload as Json;
  const metadata = (event.triggerSubscriptionMetadata ?? {}) as Json;
  const objectType = hints.objectType ?? paragonObjectType(event, metadata);
  return recordSnapshot(paragonRecord(payload), { ...hints, objectType }, { ...payload, ...metadata });
}

/** A Paragon trigger webhook: one event keyed on its eventId, or quarantined. */
export function parseParagonEvent(body: Json, hints: RecordHints): ParsedBatch {
  const parsed = paragonSchema.safeParse(body);
  if (!parsed.success) {
    const reason = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
    return { events: [], quarantined: [quarantine('paragon', body, reason)] };
  }
  const snapshot = paragonSnapshot(body, hints);
  if (typeof snapshot === 'string') return { events: [], quarantined: [quarantine('paragon', body, snapshot)] };
  const event: IncomingEvent = {
    source: 'paragon',
    dedupKey: `paragon:${parsed.data.eventId}`,
    portalId: snapshot.portalId,
    appId: null,
    eventId: parsed.data.eventId,
    subscriptionId: null,
    subscriptionType: parsed.data.triggerType ?? 'paragon.trigger',
    objectType: snapshot.objectType,
    objectId: snapshot.objectId,
    occurredAt: snapshot.version,
    firstAttempt: null,
    lastAttempt: null,
    deliveries: 1,
    payload: body,
  };
  return { events: [event], quarantined: [] };
}
