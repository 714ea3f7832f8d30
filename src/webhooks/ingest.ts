/**
 * From verified request bytes to stored rows: parse the body, validate each event (bad ones are
 * quarantined), fold duplicates, and store the lot in one statement within a time budget.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { UNSTORABLE } from '../db/storable.ts';
import { storeWebhookBatch, type StoreResult } from './inbox-store.ts';
import { isConnectionError } from '../errors.ts';
import { parseHubSpotBatch } from './hubspot-events.ts';
import { quarantine, type ParsedBatch, type WebhookSource } from './inbox.ts';
import { parseParagonEvent, parseWorkflowPost, type RecordHints } from './records.ts';

export type ParsedRequest = { ok: true; source: WebhookSource; batch: ParsedBatch } | { ok: false; reason: string };

/** A HubSpot endpoint body: a Webhooks-API batch (JSON array) or a workflow post (JSON object). */
export function parseHubSpotRequest(body: Buffer, hints: RecordHints): ParsedRequest {
  const json = parseJson(body);
  if (!json.ok) return json;
  if (Array.isArray(json.value)) return { ok: true, source: 'hubspot', batch: checkStorable(parseHubSpotBatch(json.value), body) };
  if (isObject(json.value)) return { ok: true, source: 'workflow', batch: checkStorable(parseWorkflowPost(json.value, hints), body) };
  return { ok: false, reason: 'body is neither a JSON array of events nor a JSON object' };
}

/** A Paragon trigger webhook body: one JSON object. */
export function parseParagonRequest(body: Buffer, hints: RecordHints): ParsedRequest {
  const json = parseJson(body);
  if (!json.ok) return json;
  if (!isObject(json.value)) return { ok: false, reason: 'body is not a JSON object' };
  return { ok: true, source: 'paragon', batch: checkStorable(parseParagonEvent(json.value, hints), body) };
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (body.length === 0) return { ok: false, reason: 'empty body' };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function unstorable(value: unknown): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (Array.isArray(value)) return value.some(unstorable);
  if (value !== null && typeof value === 'object') return Object.entries(value).some(([k, v]) => UNSTORABLE.test(k) || unstorable(v));
  return false;
}

/**
 * Quarantines events jsonb cannot hold (keeping their JSON text as a string) instead of failing
 * the whole batch, which the sender would then retry for a day. Such text only arrives through
 * `\u` escapes, so bodies without one skip the walk.
 */
export function checkStorable(batch: ParsedBatch, body: Buffer): ParsedBatch {
  if (!body.includes('\\u')) return batch;
  const out: ParsedBatch = { events: [], quarantined: [] };
  const reason = 'contains text Postgres cannot store (NUL or an unpaired surrogate); raw kept as escaped JSON text';
  for (const event of batch.events) {
    if (unstorable(event.payload)) out.quarantined.push(quarantine(event.source, JSON.stringify(event.payload), reason));
    else out.events.push(event);
  }
  for (const item of batch.quarantined) {
    out.quarantined.push(unstorable(item.raw) ? quarantine(item.source, JSON.stringify(item.raw), `${item.reason}; ${reason}`) : item);
  }
  return out;
}

export type StoreOutcome = { ok: true; result: StoreResult } | { ok: false; reason: 'timeout' | 'unavailable' | 'error'; err?: unknown };

/**
 * Stores within `timeoutMs` or reports why not. One statement, so a timeout or a lost connection
 * never leaves half a batch; if the statement still commits after the timeout, the sender's retry
 * is simply a duplicate.
 */
export async function storeWithin(db: Kysely<Database>, batch: ParsedBatch, receivedAt: Date, timeoutMs: number): Promise<StoreOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const work = storeWebhookBatch(db, batch, receivedAt).then(
    (result): StoreOutcome => ({ ok: true, result }),
    (err: unknown): StoreOutcome => ({ ok: false, reason: isConnectionError(err) ? 'unavailable' : 'error', err }),
  );
  const timeout = new Promise<StoreOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: 'timeout' }), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
