import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export type OutboxRowStatus = 'pending' | 'sent' | 'dead';

/** `app_event_outbox`: one row per App Event to deliver. A public contract (the app may insert rows itself). */
export interface AppEventOutboxTable {
  id: Generated<number>;
  user_id: string;
  name: string;
  payload: JSONColumnType<Record<string, unknown>, string | Record<string, unknown>, string | Record<string, unknown>>;
  idempotency_key: string;
  ordering_key: string;
  status: ColumnType<OutboxRowStatus, OutboxRowStatus | undefined, OutboxRowStatus>;
  attempts: Generated<number>;
  failures: Generated<number>;
  next_attempt_at: Timestamp;
  locked_until: NullableTimestamp;
  locked_by: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
}

/** `outbox_cursors`: how far hubsync has read a watched app table. */
export interface OutboxCursorsTable {
  name: string;
  cursor_ts: string | null;
  cursor_id: string | null;
  rows_seen: Generated<number>;
  updated_at: Timestamp;
}

/** `outbox_source_rows`: every watched-table row hubsync has announced (so later versions are "updated"). */
export interface OutboxSourceRowsTable {
  source: string;
  row_id: string;
  first_seen_at: Timestamp;
}

/** `paragon_trigger_users`: the Connected Users whose trigger subscriptions hubsync manages. */
export interface ParagonTriggerUsersTable {
  user_id: string;
  managed_since: Timestamp;
}

/** `paragon_trigger_subscriptions`: the trigger subscriptions hubsync made, by id, and the configured trigger (key) each serves. */
export interface ParagonTriggerSubscriptionsTable {
  user_id: string;
  subscription_id: string;
  trigger_key: string;
  recorded_at: Timestamp;
}

/** The outbox's and Paragon's tables, for the `Database` interface. */
export interface OutboxTables {
  app_event_outbox: AppEventOutboxTable;
  outbox_cursors: OutboxCursorsTable;
  outbox_source_rows: OutboxSourceRowsTable;
  paragon_trigger_users: ParagonTriggerUsersTable;
  paragon_trigger_subscriptions: ParagonTriggerSubscriptionsTable;
}
