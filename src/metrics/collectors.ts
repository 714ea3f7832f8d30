import type { Kysely } from 'kysely';
import type { JobConfig } from '../config/schema.ts';
import { ledgerReport } from '../db/mirror-ledger.ts';
import type { Database } from '../db/schema.ts';
import { pollingStatus } from '../polling/status.ts';
import type { Collector } from './loop.ts';

/** Webhook coverage and each path's lag over the last `windowMs`, per portal and object type. */
export function ledgerCollector(db: Kysely<Database>, windowMs = 3_600_000): Collector {
  return async (metrics, now) => {
    const report = await ledgerReport(db, { since: new Date(now.getTime() - windowMs), until: now, propertiesOnly: true });
    for (const group of report.groups) {
      const labels = { portalId: group.portalId ?? 0, objectType: group.objectType ?? '' };
      metrics.gauge('webhook.coverage', group.webhookCoverage ?? 1, labels);
      metrics.gauge('webhook.missed', group.missedByWebhook, labels);
      metrics.gauge('changes.observed', group.changes, labels);
      if (group.webhookLagMs.p50 !== null) metrics.gauge('webhook.lag_p50_ms', group.webhookLagMs.p50, labels);
      if (group.webhookLagMs.p95 !== null) metrics.gauge('webhook.lag_p95_ms', group.webhookLagMs.p95, labels);
      if (group.pollLagMs.p50 !== null) metrics.gauge('poll.detection_lag_p50_ms', group.pollLagMs.p50, labels);
      if (group.pollLagMs.p95 !== null) metrics.gauge('poll.detection_lag_p95_ms', group.pollLagMs.p95, labels);
    }
  };
}

/** Cursor lag (now − cursor position) per polling job. */
export function pollingCollector(db: Kysely<Database>, jobs: readonly JobConfig[]): Collector {
  return async (metrics, now) => {
    for (const status of await pollingStatus(db, jobs, now)) {
      if (status.cursorLagSeconds !== null) metrics.gauge('polling.cursor_lag_seconds', status.cursorLagSeconds, { job: status.job });
    }
  };
}
