import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { SyncRunKind, SyncRunStatus, SyncRunsTable } from '../db/sync-tables.ts';

type Db = Kysely<Database> | Transaction<Database>;

export type SyncRun = Selectable<SyncRunsTable>;

export interface RunCounts {
  pages: number;
  records: number;
  total: number | null;
  apiCalls: number;
  rateLimited: number;
}

/** Opens a run row in status `running`; returns its id. */
export async function insertRun(
  db: Db,
  run: { jobName: string; portalId: number; objectType: string; kind: SyncRunKind; worker: string; startedAt: Date },
): Promise<number> {
  const row = await db
    .insertInto('sync_runs')
    .values({
      job_name: run.jobName,
      portal_id: run.portalId,
      object_type: run.objectType,
      kind: run.kind,
      status: 'running',
      worker: run.worker,
      started_at: run.startedAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Closes runs of a job left `running` by a worker that died; call it holding the job's lease (so no
 * live run can be among them). Returns how many were closed.
 */
export async function abandonRuns(db: Db, jobName: string, kinds: readonly SyncRunKind[], now: Date): Promise<number> {
  const result = await db
    .updateTable('sync_runs')
    .set({ status: 'aborted', error: 'worker stopped mid-run', finished_at: now })
    .where('job_name', '=', jobName)
    .where('kind', 'in', [...kinds])
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Progress of a running run (so status shows a long backfill moving). */
export async function updateRunCounts(db: Db, id: number, counts: RunCounts): Promise<void> {
  await db
    .updateTable('sync_runs')
    .set({ pages: counts.pages, records: counts.records, total: counts.total, api_calls: counts.apiCalls, rate_limited: counts.rateLimited })
    .where('id', '=', id)
    .execute();
}

/** Closes a run with its final counts, status and error. */
export async function finishRun(
  db: Db,
  id: number,
  end: RunCounts & { status: Exclude<SyncRunStatus, 'running'>; error: string | null; finishedAt: Date; durationMs: number },
): Promise<void> {
  await db
    .updateTable('sync_runs')
    .set({
      status: end.status,
      error: end.error,
      finished_at: end.finishedAt,
      duration_ms: end.durationMs,
      pages: end.pages,
      records: end.records,
      total: end.total,
      api_calls: end.apiCalls,
      rate_limited: end.rateLimited,
    })
    .where('id', '=', id)
    .execute();
}

/**
 * The newest poll of each job and its newest successful one. Archived sweeps are left out: a
 * sweep that succeeds says nothing about whether the job's changes are fresh.
 */
export async function latestRuns(db: Db): Promise<{ last: SyncRun[]; lastOk: SyncRun[] }> {
  const newest = (okOnly: boolean) =>
    db
      .selectFrom('sync_runs')
      .selectAll()
      .where('id', 'in', (qb) => {
        let ids = qb.selectFrom('sync_runs').select((eb) => eb.fn.max('id').as('id')).where('kind', '!=', 'sweep');
        if (okOnly) ids = ids.where('status', '=', 'ok');
        return ids.groupBy('job_name');
      })
      .execute();
  const [last, lastOk] = await Promise.all([newest(false), newest(true)]);
  return { last, lastOk };
}

/**
 * When the job's newest successful poll (not sweep) began, on any worker (epoch ms). A failed or
 * aborted poll does not count: its retry must not wait out a stretched interval.
 */
export async function lastPollStart(db: Db, jobName: string): Promise<number | null> {
  const row = await db
    .selectFrom('sync_runs')
    .select('started_at')
    .where('job_name', '=', jobName)
    .where('kind', '!=', 'sweep')
    .where('status', '=', 'ok')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? row.started_at.getTime() : null;
}
