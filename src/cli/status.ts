import type { Kysely } from 'kysely';
import type { Config } from '../config/schema.ts';
import { ledgerReport, missedByWebhook, type MissedChange } from '../db/mirror-ledger.ts';
import type { Database } from '../db/schema.ts';
import { webhookStatus, type WebhookStatus } from '../db/webhook-events.ts';
import type { LedgerGroupReport } from '../mirror/ledger.ts';
import { outboxStatus, type OutboxStatus } from '../outbox/api.ts';
import { pollingStatus, type JobStatus } from '../polling/status.ts';

export interface StatusReport {
  generatedAt: string;
  jobs: JobStatus[];
  webhooks: WebhookStatus;
  outbox: OutboxStatus;
  /** Polling vs webhooks over the last 24 h (property changes). */
  coverage: { since: string; until: string; total: LedgerGroupReport; groups: LedgerGroupReport[] };
  /** Changes only polling saw in the last 24 h: the newest few. */
  missed: MissedChange[];
}

const DAY_MS = 86_400_000;

/** Everything `hubsync status` shows, from the database alone (works while the daemon runs elsewhere). */
export async function collectStatus(db: Kysely<Database>, config: Config, now: Date = new Date()): Promise<StatusReport> {
  const range = { since: new Date(now.getTime() - DAY_MS), until: new Date(now.getTime() + 1), propertiesOnly: true };
  const [jobs, webhooks, outbox, report, missed] = await Promise.all([
    pollingStatus(db, config.jobs, now),
    webhookStatus(db, now),
    outboxStatus(db, now),
    ledgerReport(db, range),
    missedByWebhook(db, range, 20),
  ]);
  return {
    generatedAt: now.toISOString(),
    jobs,
    webhooks,
    outbox,
    coverage: { since: range.since.toISOString(), until: now.toISOString(), total: report.total, groups: report.groups },
    missed,
  };
}

const pct = (value: number | null) => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
const ms = (value: number | null) => (value === null ? '—' : value < 10_000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`);

/** The human-readable form. */
export function formatStatus(status: StatusReport): string {
  const lines: string[] = [`hubsync status at ${status.generatedAt}`, '', 'Polling jobs'];
  if (status.jobs.length === 0) lines.push('  (none configured)');
  for (const job of status.jobs) {
    const last = job.lastRun;
    lines.push(
      `  ${job.job.padEnd(16)} ${String(job.objectType ?? '').padEnd(10)} ${(job.mode ?? 'not started').padEnd(11)} ` +
        `cursor lag ${job.cursorLagSeconds === null ? '—' : `${job.cursorLagSeconds} s`}; ` +
        (last ? `last run ${last.status} (${last.kind}, ${last.records} records, ${last.api_calls} calls, ${last.rate_limited} × 429)` : 'no run yet') +
        (last?.error ? `: ${last.error}` : '') +
        (job.nextRunAt ? `; next ${job.nextRunAt}` : ''),
    );
  }
  const w = status.webhooks;
  lines.push('', 'Webhook inbox', `  backlog ${w.backlog} (oldest ${w.oldestUnprocessedSeconds ?? 0} s, ${w.retrying} retrying), failed ${w.failed}, quarantined ${w.quarantined}`);
  lines.push('', 'Polling vs webhooks, last 24 h (property changes)');
  lines.push('  portal/type                 changes  webhook coverage  webhook first  missed  webhook lag p50/p95   poll lag p50/p95');
  for (const group of [...status.coverage.groups, status.coverage.total]) {
    const name = group.portalId === null ? 'all' : `${group.portalId}/${group.objectType}`;
    lines.push(
      `  ${name.padEnd(26)} ${String(group.changes).padStart(8)}  ${pct(group.webhookCoverage).padStart(16)}  ${pct(group.webhookFirstShare).padStart(13)}  ${String(group.missedByWebhook).padStart(6)}  ` +
        `${`${ms(group.webhookLagMs.p50)} / ${ms(group.webhookLagMs.p95)}`.padStart(19)}  ${`${ms(group.pollLagMs.p50)} / ${ms(group.pollLagMs.p95)}`.padStart(17)}`,
    );
  }
  if (status.missed.length > 0) {
    lines.push('  missed by webhooks (oldest first):');
    for (const miss of status.missed.slice(0, 10)) {
      lines.push(`    ${miss.portalId}/${miss.objectType}/${miss.objectId} ${miss.property} at ${miss.occurredAt.toISOString()}`);
    }
  }
  const o = status.outbox;
  lines.push('', 'Outbox (App Events to Paragon)', `  pending ${o.pending} (${o.waiting} backing off, oldest ${o.oldestPendingAgeSeconds} s), dead ${o.dead}, sent last hour ${o.sentLastHour}`);
  return lines.join('\n');
}
