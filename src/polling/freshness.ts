import type { Kysely } from 'kysely';
import type { JobConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { pollingStatus, type JobStatus } from './status.ts';

/**
 * Which jobs' data is older than their `freshnessSeconds`. A job that has never succeeded is
 * stale only once the process has been up longer than its bound (a fresh start is not a fault).
 */
export function staleJobs(jobs: readonly JobConfig[], statuses: readonly JobStatus[], now: number, startedAt: number): string[] {
  const reasons: string[] = [];
  for (const job of jobs) {
    if (!job.freshnessSeconds) continue;
    const bound = job.freshnessSeconds * 1000;
    const last = statuses.find((status) => status.job === job.name)?.lastSuccessAt;
    const age = last ? now - Date.parse(last) : now - startedAt;
    if (age > bound) {
      reasons.push(`job ${job.name}: ${last ? `last successful poll ${Math.round(age / 1000)} s ago` : 'no successful poll yet'} (bound ${job.freshnessSeconds} s)`);
    }
  }
  return reasons;
}

/** A readiness check for `/readyz`: fails while any job's data is older than its freshness bound. */
export function freshnessReadiness(db: Kysely<Database>, jobs: readonly JobConfig[], startedAt = Date.now(), now = () => Date.now()) {
  return async (): Promise<{ ok: boolean; reasons: string[] }> => {
    if (!jobs.some((job) => job.freshnessSeconds)) return { ok: true, reasons: [] };
    const at = now();
    const reasons = staleJobs(jobs, await pollingStatus(db, jobs, new Date(at)), at, startedAt);
    return { ok: reasons.length === 0, reasons };
  };
}
