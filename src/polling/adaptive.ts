import cron from 'node-cron';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JobConfig } from '../config/schema.ts';
import { ledgerReport } from '../db/mirror-ledger.ts';
import type { Database } from '../db/schema.ts';

/**
 * Adaptive polling: while webhooks deliver (nearly) every change a job's polls find, the polls
 * are mostly confirmation, so they may come less often, up to `adaptive.maxIntervalSeconds`. A
 * change polling finds that no webhook delivered (a miss) snaps the interval back to the
 * schedule's own. Off unless `jobs[].adaptive.enabled`.
 */

export interface AdaptiveEvidence {
  /** Changes of the job's portal and type in the judged range, and how many no webhook delivered. */
  changes: number;
  missed: number;
  /** Share of those changes webhooks delivered (null: no changes). */
  coverage: number | null;
}

export interface AdaptiveDecision {
  intervalMs: number;
  action: 'stretch' | 'snap-back' | 'hold';
}

/** The next poll interval. Pure. */
export function nextInterval(currentMs: number, baseMs: number, maxMs: number, minCoverage: number, evidence: AdaptiveEvidence): AdaptiveDecision {
  if (evidence.missed > 0 || (evidence.coverage !== null && evidence.coverage < minCoverage)) {
    return currentMs > baseMs ? { intervalMs: baseMs, action: 'snap-back' } : { intervalMs: baseMs, action: 'hold' };
  }
  const stretched = Math.min(Math.max(currentMs, baseMs) * 2, Math.max(maxMs, baseMs));
  return stretched > currentMs ? { intervalMs: stretched, action: 'stretch' } : { intervalMs: currentMs, action: 'hold' };
}

/** The interval a cron schedule implies (between its next two runs). */
export function scheduleIntervalMs(schedule: string): number {
  const task = cron.createTask(schedule, () => undefined);
  try {
    const [a, b] = task.getNextRuns(2);
    return a && b ? b.getTime() - a.getTime() : 60_000;
  } finally {
    void task.destroy();
  }
}

export interface AdaptiveGate {
  /** Whether a tick at `now` should poll (false while a stretched interval has not elapsed). */
  shouldRun(now: number): boolean;
  /** After a successful poll that started at `startedAt`: judge the webhooks and set the next interval. */
  afterRun(startedAt: number, now: number): Promise<AdaptiveDecision>;
  intervalMs(): number;
}

/** One job's adaptive state in this process (each worker judges from the shared ledger). */
export function createAdaptiveGate(db: Kysely<Database>, job: JobConfig, log: Logger): AdaptiveGate {
  const baseMs = scheduleIntervalMs(job.schedule);
  const maxMs = job.adaptive.maxIntervalSeconds * 1000;
  let interval = baseMs;
  let lastStart: number | null = null;
  return {
    intervalMs: () => interval,
    shouldRun(now) {
      // A tick a little early (cron jitter) still counts as due.
      return lastStart === null || now - lastStart >= interval - Math.min(1000, baseMs / 10);
    },
    async afterRun(startedAt, now) {
      // Judge the changes since the previous poll began, leaving out the look-back's re-reads.
      const since = lastStart ?? startedAt - baseMs;
      lastStart = startedAt;
      const report = await ledgerReport(db, {
        portalId: job.portalId,
        objectType: job.objectType,
        since: new Date(since - job.lookbackSeconds * 1000),
        until: new Date(now),
        propertiesOnly: true,
      });
      const group = report.groups[0];
      const evidence = { changes: group?.changes ?? 0, missed: group?.missedByWebhook ?? 0, coverage: group?.webhookCoverage ?? null };
      const decision = nextInterval(interval, baseMs, maxMs, job.adaptive.minCoverage, evidence);
      if (decision.action !== 'hold') {
        log.info({ job: job.name, action: decision.action, intervalSeconds: decision.intervalMs / 1000, ...evidence }, decision.action === 'stretch' ? 'adaptive polling: webhooks complete, polling less often' : 'adaptive polling: webhooks missed changes, back to the schedule');
      }
      interval = decision.intervalMs;
      return decision;
    },
  };
}
