/**
 * Webhooks-API events: validation and identity. Each array element is checked on its own,
 * so one bad event is quarantined while the rest of its batch is kept.
 */
import { createHash } from 'node:crypto';
import { objectTypeName } from '../hubspot/object-types.ts';
import { MAX_EPOCH_MS } from '../hubspot/objects.ts';
import { quarantine, schemaReason, type IncomingEvent, type ParsedBatch, type SchemaIssue } from './inbox.ts';

const FAMILIES = ['contact', 'company', 'deal', 'ticket', 'line_item', 'product', 'object'] as const;
export const ACTIONS = ['creation', 'deletion', 'propertyChange', 'associationChange', 'restore', 'merge', 'privacyDeletion'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * A field's rule: the value an event keeps (ids as text), or INVALID. Written out rather than as a
 * zod schema: every event is checked when received and again when processed, and zod allocated
 * about fifteen times the event's own size doing it (a fifth of what the worker allocates per event).
 */
interface FieldRule {
  expected: string;
  /** The value kept, or INVALID; a rule over elements reports its bad elements into `issues` itself (at `path` and their index). */
  parse(value: unknown, path: readonly PropertyKey[], issues: SchemaIssue[]): unknown;
}

const INVALID = Symbol('invalid');

function isCount(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/** HubSpot sends ids as JSON numbers; accept numeric strings too, and keep them as text. */
const id: FieldRule = {
  expected: 'an id (a non-negative integer, or a string of up to 19 digits)',
  parse: (v) => (isCount(v, Number.MAX_SAFE_INTEGER) ? String(v) : typeof v === 'string' && /^\d{1,19}$/.test(v) ? v : INVALID),
};
const count = (max: number, positive = false): FieldRule => ({
  expected: `an integer from ${positive ? 1 : 0} to ${max}`,
  parse: (v) => (isCount(v, max) && (!positive || v > 0) ? v : INVALID),
});
const int = count(Number.MAX_SAFE_INTEGER);
/** An array whose every element passes `element`, each kept as it parses. */
const listOf = (element: FieldRule, expected: string): FieldRule => ({
  expected,
  parse: (v, path, issues) =>
    Array.isArray(v)
      ? v.map((item, i) => {
          const parsed = element.parse(item, [...path, i], issues);
          if (parsed === INVALID) issues.push(issue([...path, i], element, item));
          return parsed;
        })
      : INVALID,
});
const text = (minLength: number): FieldRule => ({
  expected: minLength > 0 ? 'a non-empty string' : 'a string',
  parse: (v) => (typeof v === 'string' && v.length >= minLength ? v : INVALID),
});
const FIELDS: Readonly<Record<string, { rule: FieldRule; optional?: true; default?: unknown }>> = {
  eventId: { rule: id },
  subscriptionId: { rule: int },
  portalId: { rule: count(Number.MAX_SAFE_INTEGER, true) },
  appId: { rule: int, optional: true },
  // Epoch ms a timestamp column holds.
  occurredAt: { rule: count(MAX_EPOCH_MS) },
  subscriptionType: { rule: text(0), optional: true },
  eventType: { rule: text(0), optional: true },
  // Stored in an integer column.
  attemptNumber: { rule: count(2 ** 31 - 1), default: 0 },
  objectId: { rule: id, optional: true },
  objectTypeId: { rule: { expected: 'a type id such as 2-3465', parse: (v) => (typeof v === 'string' && /^\d+-\d+$/.test(v) ? v : INVALID) }, optional: true },
  propertyName: { rule: text(1), optional: true },
  propertyValue: {
    rule: { expected: 'a string, number, boolean or null', parse: (v) => (v === null || typeof v === 'string' || typeof v === 'boolean' || Number.isFinite(v) ? v : INVALID) },
    optional: true,
  },
  primaryObjectId: { rule: id, optional: true },
  mergedObjectIds: { rule: listOf(id, 'an array of ids'), optional: true },
  newObjectId: { rule: id, optional: true },
  associationType: { rule: text(1), optional: true },
  fromObjectId: { rule: id, optional: true },
  toObjectId: { rule: id, optional: true },
  associationRemoved: { rule: { expected: 'a boolean', parse: (v) => (typeof v === 'boolean' ? v : INVALID) }, optional: true },
};

/** A valid Webhooks-API event: its fields checked, ids as text; other fields HubSpot sends are kept as they are. */
export interface HubSpotEvent {
  eventId: string;
  subscriptionId: number;
  portalId: number;
  appId?: number;
  occurredAt: number;
  subscriptionType?: string;
  eventType?: string;
  attemptNumber: number;
  objectId?: string;
  objectTypeId?: string;
  propertyName?: string;
  propertyValue?: string | number | boolean | null;
  primaryObjectId?: string;
  mergedObjectIds?: string[];
  newObjectId?: string;
  associationType?: string;
  fromObjectId?: string;
  toObjectId?: string;
  associationRemoved?: boolean;
  [field: string]: unknown;
}

/** Checks an event's fields: the event (a copy, ids as text), or what is wrong with it. */
function checkFields(raw: Record<string, unknown>): { event: HubSpotEvent } | { issues: SchemaIssue[] } {
  const event: Record<string, unknown> = { ...raw };
  const issues: SchemaIssue[] = [];
  for (const name in FIELDS) {
    const field = FIELDS[name]!;
    const value = raw[name];
    if (value === undefined) {
      if (field.default !== undefined) event[name] = field.default;
      else if (!field.optional) issues.push(issue([name], field.rule, value));
      continue;
    }
    const parsed = field.rule.parse(value, [name], issues);
    if (parsed === INVALID) issues.push(issue([name], field.rule, value));
    else event[name] = parsed;
  }
  return issues.length > 0 ? { issues } : { event: event as HubSpotEvent };
}

/** What is wrong with a value at `path`: what `rule` expects, and what was found (nothing, when absent). */
function issue(path: readonly PropertyKey[], rule: FieldRule, value: unknown): SchemaIssue {
  return { path, message: `expected ${rule.expected}, found ${value === undefined ? 'nothing' : describe(value)}` };
}

/** A value as a reason names it: its JSON type, and short values themselves. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const json = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${json.length > 40 ? `${json.slice(0, 40)}…` : json}`;
}

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
  const checked = checkFields(raw as Record<string, unknown>);
  if ('issues' in checked) return { reason: schemaReason(checked.issues) };
  const { event } = checked;
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
