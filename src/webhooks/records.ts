/**
 * Record snapshots pushed to us: HubSpot workflow "send a webhook" posts (a JSON object of one
 * record's properties, no event id) and the records of Paragon trigger webhooks
 * (`paragon-events.ts`). A snapshot's version is the record's last-modified timestamp, when it
 * carries one. Pure; the receiver uses it to validate and key the event, the processor to build
 * the observation.
 */
import { createHash } from 'node:crypto';
import { lastModifiedProperty, objectTypeName } from '../hubspot/object-types.ts';
import { toEpochMs } from '../hubspot/objects.ts';
import { contentHash, quarantine, type IncomingEvent, type ParsedBatch } from './inbox.ts';

export interface RecordSnapshot {
  portalId: number;
  objectType: string;
  objectId: string;
  properties: Record<string, string | null>;
  /** The record's last-modified timestamp, epoch ms; undefined when the record carries none. */
  version: number | undefined;
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

/** Extracts a record snapshot from a post or payload (its version when it has one); a string says why it cannot. */
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
  const version = versionOf(record, properties, objectType);
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

/**
 * A pushed record's version, epoch ms: its type's last-modified property, else
 * `hs_lastmodifieddate`, else `updatedAt`; undefined when it carries none that parses.
 */
export function recordVersion(record: Json, objectType: string): number | undefined {
  return versionOf(record, propertiesOf(record), objectType);
}

function versionOf(record: Json, properties: Record<string, string | null>, objectType: string): number | undefined {
  return [properties[lastModifiedProperty(objectType)], properties.hs_lastmodifieddate, text(record.updatedAt)]
    .map((value) => toEpochMs(value ?? undefined))
    .find(Number.isFinite);
}

/** Why a snapshot without a version cannot be applied as it is (a workflow post must carry one). */
export function unversioned(snapshot: RecordSnapshot): string {
  return `no ${lastModifiedProperty(snapshot.objectType)} (or updatedAt): a snapshot without a version cannot be ordered`;
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

export function text(value: unknown): string | undefined {
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
  if (snapshot.version === undefined) return { events: [], quarantined: [quarantine('workflow', body, unversioned(snapshot))] };
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
