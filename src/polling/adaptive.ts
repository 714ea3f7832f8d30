import cron from 'node-cron';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JobConfig } from '../config/schema.ts';
import { ledgerReport } from '../mirror/ledger-store.ts';
import type { Database } from '../db/schema.ts';
import { pendingRescan } from './rescan-store.ts';
import { lastPollStart } from './run-store.ts';

/**
 * Adaptive polling: while the streams (push webhooks and the Webhooks Journal) deliver (nearly)
 * every change a job's polls find, the polls are mostly confirmation, so they may come less often,
 * up to `adaptive.maxIntervalSeconds`. A change polling finds that neither stream delivered (a
 * miss) snaps the interval back to the schedule's own. Off unless `jobs[].adaptive.enabled`.
 */

export interface AdaptiveEvidence {
  /** Changes of the job's portal and type in the judged range, and how many only polling saw. */
  changes: number;
  missed: number;
  /** Share of those changes a stream (webhooks or the journal) delivered (null: no changes). */
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
  shouldRun(now: number): Promise<boolean>;
  /** After a successful poll that started at `startedAt`: judge the streams and set the next interval. */
  afterRun(startedAt: number): Promise<AdaptiveDecision>;
}

/**
 * A change is judged once both paths have had time to report it: polling the look-back (search
 * shows changes late by up to that), webhooks at least this long (delivery and processing).
 */
const MIN_JUDGE_DELAY_MS = 5_000;

/**
 * One job's adaptive state. The interval is this process's (every worker judges from the shared
 * ledger, so they agree); the last poll's start is read from `sync_runs`, so a stretched interval
 * holds whichever worker ran the poll.
 */
export function createAdaptiveGate(db: Kysely<Database>, job: JobConfig, log: Logger): AdaptiveGate {
  const baseMs = scheduleIntervalMs(job.schedule);
  const maxMs = job.adaptive.maxIntervalSeconds * 1000;
  const judgeDelayMs = Math.max(job.lookbackSeconds * 1000, MIN_JUDGE_DELAY_MS);
  let interval = baseMs;
  let judgedUntil: number | null = null;
  return {
    async shouldRun(now) {
      if (interval <= baseMs) return true;
      // A requested re-read (a journal gap: changes no stream delivered) does not wait for the stretched interval.
      if (await pendingRescan(db, job.name)) return true;
      const last = await lastPollStart(db, job.name);
      // A tick a little early (cron jitter) still counts as due.
      return last === null || now - last >= interval - Math.min(1000, baseMs / 10);
    },
    async afterRun(startedAt) {
      // Windows follow one another, so every change is judged exactly once.
      const until = startedAt - judgeDelayMs;
      const since = judgedUntil ?? until - interval;
      if (until <= since) return { intervalMs: interval, action: 'hold' };
      const report = await ledgerReport(db, {
        portalId: job.portalId,
        objectType: job.objectType,
        since: new Date(since),
        until: new Date(until),
        propertiesOnly: true,
      });
      judgedUntil = until;
      const group = report.groups[0];
      const changes = group?.changes ?? 0;
      const missed = group?.pollOnly ?? 0;
      const evidence = { changes, missed, coverage: changes > 0 ? (changes - missed) / changes : null };
      const decision = nextInterval(interval, baseMs, maxMs, job.adaptive.minCoverage, evidence);
      if (decision.action !== 'hold') {
        log.info(
          { job: job.name, action: decision.action, intervalSeconds: decision.intervalMs / 1000, ...evidence },
          decision.action === 'stretch'
            ? 'adaptive polling: webhooks and journal complete, polling less often'
            : 'adaptive polling: webhooks and journal missed changes, back to the schedule',
        );
      }
      interval = decision.intervalMs;
      return decision;
    },
  };
}
