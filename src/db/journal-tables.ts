import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** int8 counters: read as text by the driver, parsed where used. */
type Counter = ColumnType<string | number, number | undefined, number>;

/** `journal_offsets`: one row per journal read (`global`, or `portal:<id>` for a local journal). A public contract. */
export interface JournalOffsetsTable {
  journal: string;
  offset: string;
  published_at: NullableTimestamp;
  last_event_at: NullableTimestamp;
  entries: Counter;
  events: Counter;
  updated_at: Timestamp;
}

/** `journal_gaps`: an offset that expired before it was read, and the time range that may be lost. */
export interface JournalGapsTable {
  id: Generated<number>;
  journal: string;
  lost_offset: string;
  since: Timestamp;
  until: Timestamp;
  detected_at: Timestamp;
  rescan_jobs: ColumnType<string[], string[] | undefined, string[]>;
}

/** `journal_subscriptions`: the journal subscriptions hubsync made, by HubSpot id. */
export interface JournalSubscriptionsTable {
  id: number;
  key: string;
  portal_id: number | null;
  subscription_type: string;
  spec: JSONColumnType<Record<string, unknown>>;
  filter_ids: ColumnType<number[], number[] | undefined, number[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface JournalTables {
  journal_offsets: JournalOffsetsTable;
  journal_gaps: JournalGapsTable;
  journal_subscriptions: JournalSubscriptionsTable;
}
