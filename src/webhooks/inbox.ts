/**
 * What the receiver stores: one row per received event (deduplicated by `dedupKey`) and one per
 * event that failed validation (quarantined with its raw JSON and the reason). Pure shapes and
 * helpers shared by the three sources.
 */
import { createHash } from 'node:crypto';

export type WebhookSource = 'hubspot' | 'paragon' | 'workflow' | 'journal';

export interface IncomingEvent {
  source: WebhookSource;
  /** Identity of the event across deliveries: never includes the attempt number. */
  dedupKey: string;
  portalId: number | null;
  appId: number | null;
  eventId: string | null;
  subscriptionId: number | null;
  /** HubSpot's subscription type, Paragon's trigger type, or `workflow.snapshot`. */
  subscriptionType: string;
  objectType: string | null;
  objectId: string | null;
  /** Epoch ms of the change in HubSpot (or of Paragon's receipt when that is all there is). */
  occurredAt: number | null;
  /** HubSpot's attemptNumber, lowest and highest seen; null for sources without one. */
  firstAttempt: number | null;
  lastAttempt: number | null;
  /** Deliveries this row stands for (several copies in one request are folded before storing). */
  deliveries: number;
  payload: Record<string, unknown>;
}

export interface QuarantinedEvent {
  source: WebhookSource;
  reason: string;
  raw: unknown;
  /** Identity of the raw content: the same bad event delivered again is counted, not stored twice. */
  contentHash: string;
  deliveries: number;
}

export interface ParsedBatch {
  events: IncomingEvent[];
  quarantined: QuarantinedEvent[];
}

/** SHA-256 hex of a JSON value with object keys sorted, so re-encoding does not change it. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** JSON with object keys in sorted order (arrays keep theirs). Built with a stack, not recursion. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  // Work items: a value to write, or text already written out (punctuation, keys).
  const stack: ({ value: unknown } | { text: string })[] = [{ value }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if ('text' in item) {
      out.push(item.text);
      continue;
    }
    const current = item.value;
    if (Array.isArray(current)) {
      const parts: ({ value: unknown } | { text: string })[] = [{ text: '[' }];
      current.forEach((element, index) => {
        if (index > 0) parts.push({ text: ',' });
        parts.push({ value: element });
      });
      parts.push({ text: ']' });
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]!);
    } else if (current !== null && typeof current === 'object') {
      const record = current as Record<string, unknown>;
      const keys = Object.keys(record).sort().filter((key) => record[key] !== undefined);
      const parts: ({ value: unknown } | { text: string })[] = [{ text: '{' }];
      keys.forEach((key, index) => parts.push({ text: `${index > 0 ? ',' : ''}${JSON.stringify(key)}:` }, { value: record[key] }));
      parts.push({ text: '}' });
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]!);
    } else {
      out.push(JSON.stringify(current) ?? 'null');
    }
  }
  return out.join('');
}

export function quarantine(source: WebhookSource, raw: unknown, reason: string): QuarantinedEvent {
  return { source, reason, raw, contentHash: contentHash([source, raw]), deliveries: 1 };
}

/** Why an event failed its schema, as a quarantine reason: its first five issues, each with where it is. */
export function schemaReason(issues: readonly SchemaIssue[]): string {
  return issues.slice(0, 5).map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
}

/** A field that fails its schema: where (as zod reports it) and why. */
export interface SchemaIssue {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * Folds copies of one event inside a request into one row (earliest and latest attempt, summed
 * deliveries), and sorts by key so concurrent upserts lock rows in one order. Returns the number
 * of copies folded away.
 */
export function foldDuplicates(batch: ParsedBatch): { batch: ParsedBatch; folded: number } {
  const events = new Map<string, IncomingEvent>();
  let folded = 0;
  for (const event of batch.events) {
    const seen = events.get(event.dedupKey);
    if (!seen) {
      events.set(event.dedupKey, { ...event });
      continue;
    }
    folded += 1;
    seen.deliveries += event.deliveries;
    seen.firstAttempt = minNullable(seen.firstAttempt, event.firstAttempt);
    seen.lastAttempt = maxNullable(seen.lastAttempt, event.lastAttempt);
  }
  const quarantined = new Map<string, QuarantinedEvent>();
  for (const item of batch.quarantined) {
    const seen = quarantined.get(item.contentHash);
    if (seen) seen.deliveries += item.deliveries;
    else quarantined.set(item.contentHash, { ...item });
  }
  return {
    batch: {
      events: [...events.values()].sort((a, b) => compare(a.dedupKey, b.dedupKey)),
      quarantined: [...quarantined.values()].sort((a, b) => compare(a.contentHash, b.contentHash)),
    },
    folded,
  };
}

function minNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function maxNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
