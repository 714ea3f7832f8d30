/**
 * Planner statistics and dead rows of the tables hubsync churns, kept in check by the daemon
 * itself. Autovacuum may be off or slow (and the embedded database has none): a table that was
 * never analysed is planned from defaults, and dead index entries slow every claim. The
 * thresholds are autovacuum's defaults, so where autovacuum keeps up this finds nothing to do.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { arrayLiteral } from './sql.ts';

export interface TableActivity {
  table: string;
  /** The planner's row count (-1: never analysed or vacuumed). */
  reltuples: number;
  modifiedSinceAnalyze: number;
  deadRows: number;
}

export interface MaintenancePlan {
  analyze: string[];
  vacuum: string[];
}

/** autovacuum_analyze_threshold / _scale_factor and autovacuum_vacuum_threshold / _scale_factor. */
const ANALYZE_BASE = 50;
const ANALYZE_SCALE = 0.1;
const VACUUM_BASE = 50;
const VACUUM_SCALE = 0.2;

/** Which tables need statistics or a vacuum, by autovacuum's own rule. Pure. */
export function maintenancePlan(activity: readonly TableActivity[]): MaintenancePlan {
  const plan: MaintenancePlan = { analyze: [], vacuum: [] };
  for (const t of activity) {
    const rows = Math.max(0, t.reltuples);
    if (t.modifiedSinceAnalyze > ANALYZE_BASE + ANALYZE_SCALE * rows) plan.analyze.push(t.table);
    if (t.deadRows > VACUUM_BASE + VACUUM_SCALE * rows) plan.vacuum.push(t.table);
  }
  return plan;
}

/** The cumulative statistics of `tables` (the server's counters, flushed within about a second). */
export async function tableActivity(db: Kysely<Database>, tables: readonly string[]): Promise<TableActivity[]> {
  const { rows } = await sql<{ table: string; reltuples: number; modified: number | null; dead: number | null }>`
    select c.relname as table, c.reltuples::float8 as reltuples, s.n_mod_since_analyze as modified, s.n_dead_tup as dead
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    left join pg_stat_user_tables s on s.relid = c.oid
    where n.nspname = current_schema() and c.relkind = 'r' and c.relname = any(${arrayLiteral(tables)}::text[])
    order by c.relname`.execute(db);
  return rows.map((r) => ({ table: r.table, reltuples: Number(r.reltuples), modifiedSinceAnalyze: Number(r.modified ?? 0), deadRows: Number(r.dead ?? 0) }));
}

/**
 * Analyses and vacuums those of `tables` that autovacuum's rule says need it, skipping a table
 * another session is already vacuuming or analysing. Runs on one connection without the
 * statement timeout (a first VACUUM of a large inbox can take longer). Returns what it did.
 */
export async function maintainTables(db: Kysely<Database>, tables: readonly string[]): Promise<MaintenancePlan> {
  const plan = maintenancePlan(await tableActivity(db, tables));
  if (plan.analyze.length === 0 && plan.vacuum.length === 0) return plan;
  await db.connection().execute(async (conn) => {
    await sql`set statement_timeout = 0`.execute(conn);
    try {
      // VACUUM (ANALYZE) would do both at once, but a table may need only one of them. No parallel
      // workers, as autovacuum: for the inbox, with indexes past min_parallel_index_scan_size,
      // starting them cost 200-260 ms a VACUUM where the work itself took 10-30 ms (20,000 events processed).
      for (const table of plan.vacuum) await sql`vacuum (skip_locked, parallel 0) ${sql.table(table)}`.execute(conn);
      for (const table of plan.analyze) await sql`analyze (skip_locked) ${sql.table(table)}`.execute(conn);
    } finally {
      await sql`reset statement_timeout`.execute(conn);
    }
  });
  return plan;
}
