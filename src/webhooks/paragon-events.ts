/**
 * Paragon trigger webhooks (`{eventId, userId, triggerType, …, payload, triggerSubscriptionMetadata}`).
 * The payload's shape varies by trigger type; Paragon's documented example is an array of flat
 * records with no last-modified field (`[{"id": "…", "name": "…", …}]`). Each record becomes one
 * inbox event. One that carries its version is applied as a snapshot; one that does not is a
 * reason to read the record from HubSpot by id (hydration), never a reason to quarantine it.
 */
import { z } from 'zod';
import { quarantine, schemaReason, type IncomingEvent, type ParsedBatch } from './inbox.ts';
import { recordSnapshot, text, type RecordHints, type RecordSnapshot } from './records.ts';

type Json = Record<string, unknown>;

const record = z.record(z.string(), z.unknown());

const paragonSchema = z.looseObject({
  eventId: z.string().min(1).max(200),
  userId: z.string().optional(),
  triggerType: z.string().optional(),
  dateReceived: z.union([z.string(), z.number()]).optional(),
  payload: z.union([record, z.array(record).min(1).max(1000)]),
  triggerSubscriptionMetadata: z.record(z.string(), z.unknown()).nullish(),
});

/**
 * The records a payload carries: the documented array of flat records, or one record (flat, in
 * `properties`, or under `record`/`data`/`object`).
 */
export function paragonRecords(payload: unknown): Json[] {
  if (Array.isArray(payload)) return payload.filter((r): r is Json => r !== null && typeof r === 'object' && !Array.isArray(r));
  if (payload === null || typeof payload !== 'object') return [];
  const p = payload as Json;
  for (const key of ['record', 'data', 'object']) {
    const value = p[key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return [value as Json];
  }
  return [p];
}

/** Object type named by the metadata, the payload, or a trigger type like `HUBSPOT_RECORD_CREATED` with `*_CONTACT_*`. */
function paragonObjectType(event: Json, metadata: Json): string | undefined {
  const payload = (Array.isArray(event.payload) ? {} : event.payload ?? {}) as Json;
  const named = text(metadata.objectType) ?? text(metadata.recordType) ?? text(payload.objectType) ?? text(payload.recordType);
  if (named) return named;
  const match = /(CONTACT|COMPAN|DEAL|TICKET)/.exec(text(event.triggerType) ?? '');
  return match ? { CONTACT: 'contacts', COMPAN: 'companies', DEAL: 'deals', TICKET: 'tickets' }[match[1] as 'CONTACT'] : undefined;
}

/**
 * The snapshot of one record of a Paragon event, or why there is none. Portal and type come from
 * the webhook URL's query, the subscription's metadata (`{portalId, objectType}`), the payload, or
 * the trigger type, in that order.
 */
function paragonSnapshot(event: Json, one: Json, hints: RecordHints): RecordSnapshot | string {
  const metadata = (event.triggerSubscriptionMetadata ?? {}) as Json;
  const objectType = hints.objectType ?? paragonObjectType(event, metadata);
  const context = Array.isArray(event.payload) ? metadata : { ...(event.payload as Json), ...metadata };
  return recordSnapshot(one, { ...hints, objectType }, context);
}

/**
 * A Paragon trigger webhook: one inbox event per record, keyed on the event id (and the record id
 * when the payload holds several), stored with that one record as its payload; or quarantined.
 */
export function parseParagonEvent(body: Json, hints: RecordHints): ParsedBatch {
  const parsed = paragonSchema.safeParse(body);
  if (!parsed.success) {
    return { events: [], quarantined: [quarantine('paragon', body, schemaReason(parsed.error.issues))] };
  }
  const records = paragonRecords(body.payload);
  const batch: ParsedBatch = { events: [], quarantined: [] };
  for (const one of records) {
    const stored = Array.isArray(body.payload) ? { ...body, payload: one } : body;
    const snapshot = paragonSnapshot(body, one, hints);
    if (typeof snapshot === 'string') {
      batch.quarantined.push(quarantine('paragon', stored, snapshot));
      continue;
    }
    const event: IncomingEvent = {
      source: 'paragon',
      dedupKey: records.length === 1 ? `paragon:${parsed.data.eventId}` : `paragon:${parsed.data.eventId}:${snapshot.objectId}`,
      portalId: snapshot.portalId,
      appId: null,
      eventId: parsed.data.eventId,
      subscriptionId: null,
      subscriptionType: parsed.data.triggerType ?? 'paragon.trigger',
      objectType: snapshot.objectType,
      objectId: snapshot.objectId,
      occurredAt: snapshot.version ?? null,
      firstAttempt: null,
      lastAttempt: null,
      deliveries: 1,
      payload: stored,
    };
    batch.events.push(event);
  }
  return batch;
}
