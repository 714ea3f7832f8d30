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
import { quarantine, type ParsedBatch, type QuarantinedEvent, type WebhookSource } from './inbox.ts';
import { jsonShape, MAX_JSON_DEPTH } from './json-depth.ts';
import { parseParagonEvent } from './paragon-events.ts';
import { parseWorkflowPost, type RecordHints } from './records.ts';

export type ParsedRequest = { ok: true; source: WebhookSource; batch: ParsedBatch } | { ok: false; reason: string };

/** A HubSpot endpoint body: a Webhooks-API batch (JSON array) or a workflow post (JSON object). */
export function parseHubSpotRequest(body: Buffer, hints: RecordHints): ParsedRequest {
  const json = parseJson(body);
  if (!json.ok) return json;
  if (json.tooDeep) {
    if (!Array.isArray(json.value)) return { ok: true, source: 'workflow', batch: { events: [], quarantined: [tooDeep('workflow', body)] } };
    // Each element on its own: the deep ones are kept as text, the others go on as usual.
    const batch = parseHubSpotBatch(json.shallow);
    return { ok: true, source: 'hubspot', batch: checkStorable({ events: batch.events, quarantined: [...batch.quarantined, ...json.deep.map((raw) => tooDeep('hubspot', raw))] }, body) };
  }
  if (Array.isArray(json.value)) return { ok: true, source: 'hubspot', batch: checkStorable(parseHubSpotBatch(json.value), body) };
  if (isObject(json.value)) return { ok: true, source: 'workflow', batch: checkStorable(parseWorkflowPost(json.value, hints), body) };
  return { ok: false, reason: 'body is neither a JSON array of events nor a JSON object' };
}

/** A Paragon trigger webhook body: one JSON object. */
export function parseParagonRequest(body: Buffer, hints: RecordHints): ParsedRequest {
  const json = parseJson(body);
  if (!json.ok) return json;
  if (!isObject(json.value)) return { ok: false, reason: 'body is not a JSON object' };
  if (json.tooDeep) return { ok: true, source: 'paragon', batch: { events: [], quarantined: [tooDeep('paragon', body)] } };
  return { ok: true, source: 'paragon', batch: checkStorable(parseParagonEvent(json.value, hints), body) };
}

type ParsedJson =
  | { ok: true; value: unknown; tooDeep: false }
  | { ok: true; value: unknown; tooDeep: true; shallow: unknown[]; deep: Buffer[] }
  | { ok: false; reason: string };

/**
 * Parses a body, measuring its depth first (on the bytes, without recursion). A body deeper than
 * MAX_JSON_DEPTH is still parsed (JSON.parse does not recurse) but never stored as JSON: when it
 * is an array, its shallow elements are parsed on their own and the deep ones kept as bytes.
 */
function parseJson(body: Buffer): ParsedJson {
  if (body.length === 0) return { ok: false, reason: 'empty body' };
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const shape = jsonShape(body);
  if (shape.depth <= MAX_JSON_DEPTH) return { ok: true, value, tooDeep: false };
  const shallow: unknown[] = [];
  const deep: Buffer[] = [];
  if (Array.isArray(value)) {
    for (const element of shape.elements) {
      const bytes = body.subarray(element.start, element.end);
      if (element.depth < MAX_JSON_DEPTH) shallow.push(JSON.parse(bytes.toString('utf8')));
      else deep.push(bytes);
    }
  }
  return { ok: true, value, tooDeep: true, shallow, deep };
}

/** An event nested too deep to store as JSON: quarantined as its text (a JSON string), with the reason. */
function tooDeep(source: WebhookSource, raw: Buffer): QuarantinedEvent {
  return quarantine(source, raw.toString('utf8'), `nested deeper than ${MAX_JSON_DEPTH} levels; raw kept as text`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** True when a string anywhere in `value` (keys included) is one Postgres cannot store. A walk with a stack, not recursion. */
function unstorable(value: unknown): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (UNSTORABLE.test(item)) return true;
    } else if (Array.isArray(item)) {
      for (const inner of item) stack.push(inner);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, inner] of Object.entries(item)) {
        if (UNSTORABLE.test(key)) return true;
        stack.push(inner);
      }
    }
  }
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
 * is simply a duplicate. `load`: the receiver's busy share, reported to the workers (flood.ts).
 */
export async function storeWithin(db: Kysely<Database>, batch: ParsedBatch, receivedAt: Date, timeoutMs: number, load?: () => number): Promise<StoreOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const work = storeWebhookBatch(db, batch, receivedAt, load).then(
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
