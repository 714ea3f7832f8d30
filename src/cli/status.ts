import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ledgerReport, missedByWebhook, type MissedChange } from '../mirror/ledger-store.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import { webhookStatus, type WebhookStatus } from '../webhooks/inbox-store.ts';
import type { LedgerGroupReport, PathReport, ReportPath } from '../mirror/ledger.ts';
import { outboxStatus, type OutboxStatus } from '../outbox/api.ts';
import { triggerStatus, type TriggerStatus } from '../paragon/triggers.ts';
import { pollingStatus, type JobStatus } from '../polling/status.ts';
import { STALE_AFTER_MS } from '../processes/heartbeat.ts';
import { liveProcesses } from '../processes/store.ts';
import { journalReport, type JournalReport } from '../journal/status.ts';

/**
 * What `hubsync status --json` prints: a contract (README, "Operations"). Every key is camelCase;
 * times are ISO strings; absent values are null.
 */
export interface StatusReport {
  generatedAt: string;
  /** hubsync processes whose heartbeat is recent: what runs where. */
  processes: { id: string; role: string; host: string; pid: number; version: string; startedAt: string; lastSeenAt: string }[];
  jobs: JobStatus[];
  webhooks: WebhookStatus;
  outbox: OutboxStatus;
  /** The paths compared over the last 24 h (property changes); `paths` are the ones running or seen. */
  coverage: {
    since: string;
    until: string;
    paths: ReportPath[];
    total: LedgerGroupReport;
    groups: LedgerGroupReport[];
    /** The journal reads only the jobs' types (`portal/type`): its figures over those, in total. */
    journal?: { groups: string[]; total: PathReport };
  };
  /** Changes only polling saw in the last 24 h: the newest few. */
  missed: MissedChange[];
  /** Paragon trigger subscriptions, read from the Triggers API (absent when none are configured). */
  triggers?: TriggerStatus | { error: string };
  /** The Webhooks Journal: each journal's position, gaps, app installs/uninstalls, subscriptions (absent when off). */
  journal?: JournalReport;
}

const DAY_MS = 86_400_000;

const PATH_TITLES: Record<ReportPath, string> = { webhook: 'Webhooks', journal: 'journal', poll: 'polling' };

/** Webhooks and polling always; the journal when it runs or has seen something. */
function reportedPaths(total: LedgerGroupReport, journal: boolean): ReportPath[] {
  return journal || total.paths.journal.seen > 0 ? ['webhook', 'journal', 'poll'] : ['webhook', 'poll'];
}

/**
 * Everything `hubsync status` shows: from the database (so it works while the daemon runs
 * elsewhere), and the trigger subscriptions from Paragon when some are configured. `unreachable`:
 * why HubSpot and Paragon are not to be asked (their subscriptions show that reason instead).
 */
export async function collectStatus(db: Kysely<Database>, config: Config, log: Logger, now: Date = new Date(), unreachable?: string): Promise<StatusReport> {
  const range = { since: new Date(now.getTime() - DAY_MS), until: new Date(now.getTime() + 1), propertiesOnly: true };
  const jobs = await pollingStatus(db, config.jobs, now);
  // The types the journal reads as the mirror keys them. A custom object a job names (`p_projects`) and
  // the portal's schemas could not key (withJobsAsRun): by the type id its cursor holds (`2-3465`).
  const journalGroups = [
    ...new Map(
      config.jobs.map((job) => {
        const objectType = jobs.find((j) => j.job === job.name)?.objectType ?? job.objectType;
        return [`${job.portalId}/${objectType}`, { portalId: job.portalId, objectType }];
      }),
    ).entries(),
  ];
  const [processes, webhooks, outbox, report, missed, triggers, journal, journalTotal] = await Promise.all([
    liveProcesses(db, new Date(now.getTime() - STALE_AFTER_MS)),
    webhookStatus(db, now),
    outboxStatus(db, now),
    ledgerReport(db, range),
    missedByWebhook(db, range, 20),
    config.paragon
      ? unreachable !== undefined
        ? { error: unreachable }
        : triggerStatus(config, { log, db, timeoutMs: 5_000 }).catch((err: unknown) => ({ error: coerceError(err).message }))
      : undefined,
    journalReport(db, config, log, now, unreachable),
    config.hubspot.journal ? ledgerReport(db, { ...range, groups: journalGroups.map(([, g]) => g) }) : undefined,
  ]);
  return {
    generatedAt: now.toISOString(),
    processes: processes.map((p) => ({ ...p, startedAt: p.startedAt.toISOString(), lastSeenAt: p.lastSeenAt.toISOString() })),
    jobs,
    webhooks,
    outbox,
    coverage: {
      since: range.since.toISOString(),
      until: now.toISOString(),
      paths: reportedPaths(report.total, journal !== undefined),
      total: report.total,
      groups: report.groups,
      ...(journalTotal ? { journal: { groups: journalGroups.map(([key]) => key), total: journalTotal.total.paths.journal } } : {}),
    },
    missed,
    ...(triggers && ('error' in triggers || triggers.users > 0) ? { triggers } : {}),
    ...(journal ? { journal } : {}),
  };
}

/** A run's records, with the total, percentage and ETA when known: `400/1000 records, 40%, ETA 15 s`. */
function runProgress(run: NonNullable<JobStatus['lastRun']>): string {
  return (
    `${run.records}${run.total !== null ? `/${run.total}` : ''} records` +
    (run.percent !== null ? `, ${run.percent}%${run.etaSeconds !== null ? `, ETA ${run.etaSeconds} s` : ''}` : '')
  );
}

/** The backfills in progress, one phrase each (`contacts backfill 400/1000 records, 40%, ETA 15 s`): the demo's live view. */
export function backfillsInProgress(jobs: readonly JobStatus[]): string[] {
  return jobs.flatMap((job) => (job.lastRun?.status === 'running' && job.lastRun.kind === 'backfill' ? [`${job.job} ${job.lastRun.kind} ${runProgress(job.lastRun)}`] : []));
}

const pct = (value: number | null) => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
const ms = (value: number | null) => (value === null ? '—' : value < 10_000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`);

/**
 * The human-readable form. `withoutHead`: from the webhook inbox on, without the header, the
 * processes and the jobs (the demo's live view already showed them).
 */
export function formatStatus(status: StatusReport, options: { withoutHead?: boolean } = {}): string {
  const lines = options.withoutHead ? [] : headLines(status);
  const w = status.webhooks;
  lines.push('', 'Webhook inbox', `  backlog ${w.backlog} (oldest ${w.oldestUnprocessedSeconds ?? 0} s, ${w.retrying} retrying), failed ${w.failed}, quarantined ${w.quarantined}`);
  lines.push('', `${status.coverage.paths.map((path) => PATH_TITLES[path]).join(' vs ')}, last 24 h (property changes)`);
  lines.push('  portal/type                 changes  path      coverage    first  missed       lag p50 / p95');
  for (const group of [...status.coverage.groups, status.coverage.total]) {
    const name = group.portalId === null ? 'all' : `${group.portalId}/${group.objectType}`;
    const journal = status.coverage.journal;
    status.coverage.paths.forEach((path, i) => {
      const lead = `  ${(i === 0 ? name : '').padEnd(26)} ${(i === 0 ? String(group.changes) : '').padStart(8)}  ${path.padEnd(8)}`;
      if (path === 'journal' && journal && group.portalId !== null && !journal.groups.includes(name)) {
        lines.push(`${lead} not subscribed (no job reads this type)`);
        return;
      }
      const p = path === 'journal' && journal && group.portalId === null ? journal.total : group.paths[path];
      lines.push(
        `${lead} ${pct(p.coverage).padStart(9)}  ${pct(p.firstShare).padStart(7)}  ` +
          `${(path === 'poll' ? '—' : String(p.missed)).padStart(6)}  ${`${ms(p.lagMs.p50)} / ${ms(p.lagMs.p95)}`.padStart(20)}` +
          (p === journal?.total ? '  (the subscribed types)' : ''),
      );
    });
  }
  if (status.missed.length > 0) {
    lines.push('  missed by webhooks (oldest first):');
    for (const miss of status.missed.slice(0, 10)) {
      lines.push(`    ${miss.portalId}/${miss.objectType}/${miss.objectId} ${miss.property} at ${miss.occurredAt.toISOString()}`);
    }
  }
  if (status.journal) lines.push('', ...formatJournal(status.journal));
  const o = status.outbox;
  lines.push('', 'Outbox (App Events to Paragon)', `  pending ${o.pending} (${o.waiting} backing off, oldest ${o.oldestPendingAgeSeconds} s), dead ${o.dead}, sent last hour ${o.sentLastHour}`);
  const t = status.triggers;
  if (t) {
    lines.push('', 'Paragon trigger subscriptions');
    if ('error' in t) lines.push(`  could not read them: ${t.error}`);
    else {
      const drift = t.toCreate + t.toUpdate + t.toDelete;
      lines.push(
        `  ${t.users} users: ${t.inSync} in sync` +
          (drift ? `; the next sync creates ${t.toCreate}, updates ${t.toUpdate}, deletes ${t.toDelete}` : '') +
          `; ${t.errored.length} ERRORED`,
      );
      for (const e of t.errored) lines.push(`    ERRORED ${e.user} ${e.type} (${e.id}): ${e.error ?? 'no reason given'}`);
      for (const f of t.failures) lines.push(`    ${f.user}: could not list: ${f.error}`);
    }
  }
  return lines.join('\n');
}

function formatJournal(j: JournalReport): string[] {
  const lines = ['Webhooks Journal'];
  if (j.journals.length === 0) lines.push('  not read yet');
  for (const p of j.journals) {
    lines.push(
      `  ${p.journal.padEnd(16)} offset ${p.offset}; ${p.entries} entries, ${p.events} events read; newest event ${p.lastEventAgeSeconds === null ? '—' : `${p.lastEventAgeSeconds} s old`}; committed ${p.updatedAt.toISOString()}`,
    );
  }
  lines.push(`  gaps in the last 24 h: ${j.gapsLast24h}`);
  for (const g of j.gaps) {
    lines.push(`    ${g.detectedAt.toISOString()} ${g.journal}: changes ${g.since.toISOString()} to ${g.until.toISOString()} may be missing; polling re-reads them (${g.jobs.join(', ') || 'no jobs'})`);
  }
  for (const e of j.appEvents) lines.push(`  ${e.action === 'APP_UNINSTALL' ? 'UNINSTALLED from' : 'installed in'} portal ${e.portalId ?? '?'} at ${e.occurredAt?.toISOString() ?? '?'}`);
  const s = j.subscriptions;
  if ('error' in s) lines.push(`  subscriptions: could not read them: ${s.error}`);
  else {
    const drift = s.toCreate + s.toUpdate + s.toDelete;
    lines.push(`  subscriptions: ${s.inSync} in sync${drift ? `; the next sync creates ${s.toCreate}, updates ${s.toUpdate}, deletes ${s.toDelete}` : ''}; ${s.conflicts.length} held by others`);
    for (const c of s.conflicts) lines.push(`    ${c.key} is subscription ${c.id}, which hubsync does not manage`);
  }
  return lines;
}

/** The report's head: its time, the processes, and the polling jobs with their leases. */
function headLines(status: StatusReport): string[] {
  const lines: string[] = [`hubsync status at ${status.generatedAt}`, '', 'Processes'];
  if (status.processes.length === 0) lines.push(`  none running (no heartbeat in the last ${STALE_AFTER_MS / 1000} s)`);
  for (const p of status.processes) {
    const seen = Math.round((Date.parse(status.generatedAt) - Date.parse(p.lastSeenAt)) / 1000);
    lines.push(`  ${p.role.padEnd(7)} ${p.host}:${p.pid} hubsync ${p.version}, up since ${p.startedAt}, seen ${seen} s ago`);
  }
  lines.push('', 'Polling jobs');
  if (status.jobs.length === 0) lines.push('  (none configured)');
  for (const job of status.jobs) {
    const last = job.lastRun;
    lines.push(
      `  ${job.job.padEnd(16)} ${String(job.objectType ?? '').padEnd(10)} ${(job.mode ?? 'not started').padEnd(11)} ` +
        `cursor lag ${job.cursorLagSeconds === null ? '—' : `${job.cursorLagSeconds} s`}; ` +
        (last ? `last run ${last.status} (${last.kind}, ${runProgress(last)}, ${last.apiCalls} calls, ${last.rateLimited} × 429)` : 'no run yet') +
        (last?.error ? `: ${last.error}` : '') +
        (job.nextRunAt ? `; next ${job.nextRunAt}` : ''),
    );
    for (const lease of job.leases) {
      // A lease outlives a process killed mid-run until it expires: say so rather than name it as running.
      const holder = status.processes.find((p) => p.id === lease.owner);
      lines.push(
        holder
          ? `    ${lease.kind} running on ${holder.role} ${holder.host}:${holder.pid} since ${lease.acquiredAt}`
          : `    ${lease.kind} held by ${lease.owner} since ${lease.acquiredAt}, which has no heartbeat (its lease expires ${lease.expiresAt})`,
      );
    }
  }
  return lines;
}
