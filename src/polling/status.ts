import cron from 'node-cron';
import type { Kysely } from 'kysely';
import type { JobConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { Collector } from '../metrics/loop.ts';
import { listCursors } from './cursor-store.ts';
import { leaseName, RUN_KINDS, type RunKind } from './jobs.ts';
import { heldLeases } from './lease-store.ts';
import { progressFigures } from './progress.ts';
import { latestRuns, type SyncRun } from './run-store.ts';

export interface JobStatus {
  job: string;
  portalId: number | null;
  objectType: string | null;
  mode: 'backfill' | 'incremental' | null;
  /** Search position (ISO) and id, or the backfill's list token. */
  cursorAt: string | null;
  cursorId: string | null;
  backfillAfter: string | null;
  /** How far behind the mirror may be, seconds: now − the later of the cursor position and the last successful poll's start. */
  cursorLagSeconds: number | null;
  lastRun: {
    id: number;
    kind: SyncRun['kind'];
    status: SyncRun['status'];
    startedAt: string;
    finishedAt: string | null;
    records: number;
    pages: number;
    apiCalls: number;
    rateLimited: number;
    /** Records the run expects in all (search's `total`), when known. */
    total: number | null;
    /** While it runs, with a total: how far it is, and when it should be done at its rate so far. */
    percent: number | null;
    etaSeconds: number | null;
    error: string | null;
  } | null;
  lastSuccessAt: string | null;
  nextRunAt: string | null;
  /**
   * Who runs the job right now: each of its leases held (`poll`, `sweep`, `associations`), by which
   * process (its id, as `processes` and the heartbeat table name it), since and until when.
   */
  leases: { kind: RunKind; owner: string; acquiredAt: string; expiresAt: string }[];
}

/**
 * Per job: last run, cursor position and lag, next scheduled run. `jobs` (the configuration) adds
 * jobs that have not run yet and the next run times; without it, only jobs with a cursor or a run.
 */
export async function pollingStatus(db: Kysely<Database>, jobs: readonly JobConfig[] = [], now: Date = new Date()): Promise<JobStatus[]> {
  const [cursors, runs, leases] = await Promise.all([listCursors(db), latestRuns(db), heldLeases(db, now)]);
  const names = new Set([...jobs.map((j) => j.name), ...cursors.map((c) => c.jobName), ...runs.last.map((r) => r.job_name)]);
  return [...names].sort().map((name) => {
    const job = jobs.find((j) => j.name === name);
    const cursor = cursors.find((c) => c.jobName === name && (!job || c.portalId === job.portalId));
    const last = runs.last.find((r) => r.job_name === name);
    const ok = runs.lastOk.find((r) => r.job_name === name);
    const ts = cursor?.mode === 'incremental' ? cursor.cursorTs : null;
    return {
      job: name,
      portalId: job?.portalId ?? cursor?.portalId ?? null,
      objectType: cursor?.objectType ?? job?.objectType ?? null,
      mode: cursor?.mode ?? null,
      cursorAt: ts === null ? null : new Date(ts).toISOString(),
      cursorId: cursor?.cursorId ?? null,
      backfillAfter: cursor?.backfillAfter ?? null,
      cursorLagSeconds: lagSeconds(now, ts, ok?.started_at ?? null),
      lastRun: last ? runStatus(last, now) : null,
      lastSuccessAt: ok?.finished_at?.toISOString() ?? null,
      nextRunAt: job ? nextRun(job.schedule) : null,
      leases: leases.flatMap((lease) => {
        // The journal's and other leases are not a job's.
        const kind = RUN_KINDS.find((k) => lease.name === leaseName({ name }, k));
        return kind ? [{ kind, owner: lease.owner, acquiredAt: lease.acquiredAt.toISOString(), expiresAt: lease.expiresAt.toISOString() }] : [];
      }),
    };
  });
}

function runStatus(run: SyncRun, now: Date): NonNullable<JobStatus['lastRun']> {
  const progress = run.status === 'running' ? progressFigures(run.records, run.total ?? undefined, now.getTime() - run.started_at.getTime()) : undefined;
  return {
    id: run.id,
    kind: run.kind,
    status: run.status,
    startedAt: run.started_at.toISOString(),
    finishedAt: run.finished_at?.toISOString() ?? null,
    records: run.records,
    pages: run.pages,
    apiCalls: run.api_calls,
    rateLimited: run.rate_limited,
    total: run.total,
    percent: progress?.percent === undefined ? null : Math.round(progress.percent * 10) / 10,
    etaSeconds: progress?.etaMs === undefined ? null : Math.ceil(progress.etaMs / 1000),
    error: run.error,
  };
}

/**
 * How far behind the mirror may be: a successful poll that started at S has mirrored every change
 * made before S, so a quiet object type is not "behind" just because its newest change is old.
 */
function lagSeconds(now: Date, cursorTs: number | null, lastOkStart: Date | null): number | null {
  const freshAsOf = Math.max(cursorTs ?? Number.NEGATIVE_INFINITY, lastOkStart?.getTime() ?? Number.NEGATIVE_INFINITY);
  return Number.isFinite(freshAsOf) ? Math.max(0, Math.round((now.getTime() - freshAsOf) / 1000)) : null;
}

function nextRun(schedule: string): string | null {
  const task = cron.createTask(schedule, () => undefined);
  try {
    // getNextRun() answers null for a task that is not started; getNextRuns() does not care.
    return task.getNextRuns(1)[0]?.toISOString() ?? null;
  } finally {
    void task.destroy();
  }
}

/** Cursor lag (now − cursor position) per polling job. */
export function pollingCollector(db: Kysely<Database>, jobs: readonly JobConfig[]): Collector {
  return async (metrics, now) => {
    for (const status of await pollingStatus(db, jobs, now)) {
      if (status.cursorLagSeconds !== null) metrics.gauge('polling.cursor_lag_seconds', status.cursorLagSeconds, { job: status.job });
    }
  };
}
