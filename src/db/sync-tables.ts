import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

/** `sync_cursors`: one row per polling job (job, portal, object type). A public contract. */
export interface SyncCursorsTable {
  job_name: string;
  portal_id: number;
  object_type: string;
  mode: 'backfill' | 'incremental';
  backfill_after: string | null;
  backfill_started_at: NullableTimestamp;
  cursor_ts: NullableTimestamp;
  cursor_id: string | null;
  cursor_ts_complete: ColumnType<boolean, boolean | undefined, boolean>;
  rescan_from: NullableTimestamp;
  /** When `hubsync backfill` last asked the job to start over. */
  reset_requested_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  updated_at: Timestamp;
}

export type SyncRunKind = 'incremental' | 'backfill' | 'sweep' | 'associations';
export type SyncRunStatus = 'running' | 'ok' | 'failed' | 'aborted';

/** `sync_sweeps`: where a job's association sweep stands (job, portal, object type). */
export interface SyncSweepsTable {
  job_name: string;
  portal_id: number;
  object_type: string;
  after_id: string | null;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
  updated_at: Timestamp;
}

/** `sync_runs`: one row per poll run, with its counts. A public contract. */
export interface SyncRunsTable {
  id: Generated<number>;
  job_name: string;
  portal_id: number;
  object_type: string;
  kind: SyncRunKind;
  status: SyncRunStatus;
  worker: string;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
  duration_ms: number | null;
  pages: Generated<number>;
  records: Generated<number>;
  total: number | null;
  api_calls: Generated<number>;
  rate_limited: Generated<number>;
  error: string | null;
}

/** `job_leases`: who runs a job right now, until when. */
export interface JobLeasesTable {
  name: string;
  owner: string;
  acquired_at: Timestamp;
  expires_at: Timestamp;
}

/** `sync_account_pauses`: a portal's API budget paused by a 429 (the daily limit) past a restart. */
export interface SyncAccountPausesTable {
  portal_id: number;
  policy: string;
  paused_until: Timestamp;
  created_at: Timestamp;
}

/** `sync_rescans`: a request that a job re-read from `rescan_from` (a journal gap); done once a poll covered it. */
export interface SyncRescansTable {
  id: Generated<number>;
  job_name: string;
  rescan_from: Timestamp;
  reason: string;
  requested_at: Timestamp;
  done_at: NullableTimestamp;
}

export interface SyncTables {
  sync_cursors: SyncCursorsTable;
  sync_sweeps: SyncSweepsTable;
  sync_runs: SyncRunsTable;
  job_leases: JobLeasesTable;
  sync_account_pauses: SyncAccountPausesTable;
  sync_rescans: SyncRescansTable;
}
