import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;

/** `webhook_events`: one row per received event, deduplicated by `dedup_key`. A public contract. */
export interface WebhookEventsTable {
  id: Generated<number>;
  source: 'hubspot' | 'paragon' | 'workflow' | 'journal';
  dedup_key: string;
  portal_id: number | null;
  app_id: number | null;
  event_id: string | null;
  subscription_id: number | null;
  subscription_type: string;
  object_type: string | null;
  object_id: string | null;
  occurred_at: NullableTimestamp;
  first_attempt: number | null;
  last_attempt: number | null;
  deliveries: Generated<number>;
  payload: JSONColumnType<Record<string, unknown>>;
  received_at: Timestamp;
  last_received_at: Timestamp;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  processed_at: NullableTimestamp;
  failed_at: NullableTimestamp;
  error: string | null;
}

/** `webhook_quarantine`: events that failed validation, kept with their raw JSON and the reason. */
export interface WebhookQuarantineTable {
  id: Generated<number>;
  source: 'hubspot' | 'paragon' | 'workflow' | 'journal';
  content_hash: string;
  reason: string;
  /** Any JSON value (an event that is not an object is quarantined as it came). */
  raw: ColumnType<unknown, string, string>;
  deliveries: Generated<number>;
  received_at: Timestamp;
  last_received_at: Timestamp;
}

/**
 * `webhook_pending`: the processor's queue, the id of each event neither processed nor given up
 * on. A trigger on `webhook_events` queues every stored event; the inbox's statements
 * (`inbox-store.ts`) take events out and put retried ones back.
 */
export interface WebhookPendingTable {
  id: number;
  /** A hash of the event's object (`webhook_object_share`): a worker's lanes each claim their own objects' events first. */
  share: Generated<number>;
}

/** The webhook tables, for the `Database` interface. */
export interface WebhookTables {
  webhook_events: WebhookEventsTable;
  webhook_pending: WebhookPendingTable;
  webhook_quarantine: WebhookQuarantineTable;
}
