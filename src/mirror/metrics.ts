import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Collector } from '../metrics/loop.ts';
import type { Labels } from '../metrics/registry.ts';
import type { PathReport, ReportPath } from './ledger.ts';
import { ledgerReport } from './ledger-store.ts';

/**
 * The gauges of one path, by metric name (the webhook and poll names predate the journal). Poll
 * has no coverage or misses gauge: a poll reads the newest value, so it never sees intermediate ones.
 */
const GAUGES: Record<ReportPath, Partial<Record<'coverage' | 'missed' | 'p50' | 'p95', string>>> = {
  webhook: { coverage: 'webhook.coverage', missed: 'webhook.missed', p50: 'webhook.lag_p50_ms', p95: 'webhook.lag_p95_ms' },
  journal: { coverage: 'journal.coverage', missed: 'journal.missed', p50: 'journal.lag_p50_ms', p95: 'journal.lag_p95_ms' },
  poll: { p50: 'poll.detection_lag_p50_ms', p95: 'poll.detection_lag_p95_ms' },
};

function figures(path: PathReport | undefined): Record<'coverage' | 'missed' | 'p50' | 'p95', number | null> {
  return { coverage: path?.coverage ?? null, missed: path?.missed ?? 0, p50: path?.lagMs.p50 ?? null, p95: path?.lagMs.p95 ?? null };
}

/**
 * Each path's coverage, misses and lag over the last `windowMs`, per portal and object type. The
 * journal's gauges only when it runs (`paths`) and for the types it reads (`journalGroups`,
 * `portal/type`), so no 0% coverage is reported where it is not asked to look.
 */
export function ledgerCollector(db: Kysely<Database>, options: { windowMs?: number; paths?: readonly ReportPath[]; journalGroups?: ReadonlySet<string> } = {}): Collector {
  const windowMs = options.windowMs ?? 3_600_000;
  const paths = options.paths ?? ['webhook', 'poll'];
  const reads = (path: ReportPath, labels: Labels) => path !== 'journal' || !options.journalGroups || options.journalGroups.has(`${labels.portalId}/${labels.objectType}`);
  /** Groups reported last time: one that went quiet reports no changes once (gauges keep it), not its old figures. */
  let previous = new Map<string, { portalId: number; objectType: string }>();
  return async (metrics, now) => {
    const report = await ledgerReport(db, { since: new Date(now.getTime() - windowMs), until: now, propertiesOnly: true });
    const current = new Map<string, { portalId: number; objectType: string }>();
    const set = (name: string, value: number | null, labels: Labels) => (value === null ? metrics.clearGauge(name, labels) : metrics.gauge(name, value, labels));
    const setPaths = (labels: Labels, group: Partial<Record<ReportPath, PathReport>>) => {
      for (const path of paths) {
        if (!reads(path, labels)) continue;
        const values = figures(group[path]);
        for (const [figure, name] of Object.entries(GAUGES[path])) set(name, values[figure as keyof typeof values], labels);
      }
    };
    for (const group of report.groups) {
      const labels = { portalId: group.portalId ?? 0, objectType: group.objectType ?? '' };
      current.set(`${labels.portalId}/${labels.objectType}`, labels);
      set('changes.observed', group.changes, labels);
      setPaths(labels, group.paths);
    }
    for (const [key, labels] of previous) {
      if (current.has(key)) continue;
      set('changes.observed', 0, labels);
      setPaths(labels, {});
    }
    previous = current;
  };
}
