import type { ColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** `hubsync_processes`: one row per running process, its heartbeat. A public contract. */
export interface ProcessesTable {
  /** host:pid:random, the same id the process's job leases carry as their owner. */
  id: string;
  role: string;
  host: string;
  pid: number;
  version: string;
  started_at: Timestamp;
  last_seen_at: Timestamp;
}

export interface ProcessTables {
  hubsync_processes: ProcessesTable;
}
