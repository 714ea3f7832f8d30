import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Collector } from '../metrics/loop.ts';
import type { Labels } from '../metrics/registry.ts';
import { ledgerReport } from './ledger-store.ts';

/** Webhook coverage and each path's lag over the last `windowMs`, per portal and object type. */
export function ledgerCollector(db: Kysely<Database>, windowMs = 3_600_000): Collector {
  /** Groups reported last time: one that went quiet reports no changes once (gauges keep it), not its old figures. */
  let previous = new Map<string, { portalId: number; objectType: string }>();
  return async (metrics, now) => {
    const report = await ledgerReport(db, { since: new Date(now.getTime() - windowMs), until: now, propertiesOnly: true });
    const current = new Map<string, { portalId: number; objectType: string }>();
    const set = (name: string, value: number | null, labels: Labels) => (value === null ? metrics.clearGauge(name, labels) : metrics.gauge(name, value, labels));
    for (const group of report.groups) {
      const labels = { portalId: group.portalId ?? 0, objectType: group.objectType ?? '' };
      current.set(`${labels.portalId}/${labels.objectType}`, labels);
      set('webhook.coverage', group.webhookCoverage, labels);
      set('webhook.missed', group.missedByWebhook, labels);
      set('changes.observed', group.changes, labels);
      set('webhook.lag_p50_ms', group.webhookLagMs.p50, labels);
      set('webhook.lag_p95_ms', group.webhookLagMs.p95, labels);
      set('poll.detection_lag_p50_ms', group.pollLagMs.p50, labels);
      set('poll.detection_lag_p95_ms', group.pollLagMs.p95, labels);
    }
    for (const [key, labels] of previous) {
      if (current.has(key)) continue;
      set('webhook.missed', 0, labels);
      set('changes.observed', 0, labels);
      for (const name of ['webhook.coverage', 'webhook.lag_p50_ms', 'webhook.lag_p95_ms', 'poll.detection_lag_p50_ms', 'poll.detection_lag_p95_ms']) set(name, null, labels);
    }
    previous = current;
  };
}
