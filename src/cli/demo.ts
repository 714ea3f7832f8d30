import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { parseConfigObject } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { openDatabase } from '../db/index.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { webhookStatus } from '../webhooks/inbox-store.ts';
import type { JournalConsumer } from '../journal/consumer.ts';
import { journalApi, journalTokens } from '../journal/service.ts';
import { syncSubscriptions } from '../journal/sync.ts';
import { createLogger } from '../log.ts';
import { sleep } from '../loop.ts';
import type { PollingService } from '../polling/scheduler.ts';
import { pollingStatus } from '../polling/status.ts';
import { checkConvergence, type ConvergenceReport } from './convergence.ts';
import type { Context } from './context.ts';
import { createDemoApp, DEMO_APP_SOURCE, DEMO_APP_TABLE, demoAppActivity } from './demo-app.ts';
import { startAll } from './lifecycle.ts';
import { buildDaemon } from './run.ts';
import { startSandboxMode } from './sandbox-mode.ts';
import { collectStatus, formatStatus, backfillsInProgress } from './status.ts';

export interface DemoOptions {
  durationSeconds: number;
  dropRate: number;
  duplicateRate: number;
  /** Keep the embedded database here (for `hubsync status` afterwards); default a temporary directory, removed at the end. */
  dataDir?: string;
  /** Where the live view and the report go. */
  out?: NodeJS.WriteStream;
}

/** The demo's configuration: the user's jobs, polled briskly, against the stand-in and a throwaway embedded database. */
export function demoConfig(config: Config, dataDir: string, options: DemoOptions): Config {
  return parseConfigObject({
    ...config,
    sandbox: true,
    sandboxOptions: {
      ...config.sandboxOptions,
      port: 0,
      streamIntervalMs: Math.min(config.sandboxOptions.streamIntervalMs || 250, 250),
      webhookDropRate: options.dropRate,
      webhookDuplicateRate: options.duplicateRate,
    },
    database: { ...config.database, url: '', embeddedDir: dataDir },
    http: { ...config.http, port: 0, host: '127.0.0.1' },
    // All three paths: the stand-in's journal (its app's credentials replace these).
    hubspot: { ...config.hubspot, journal: config.hubspot.journal ?? { clientId: 'sandbox', clientSecret: 'sandbox' } },
    jobs: config.jobs.map((job) => ({ ...job, schedule: '*/5 * * * * *', archivedSweep: '*/20 * * * * *', lookbackSeconds: Math.max(job.lookbackSeconds, 10) })),
    // The other direction: the sample app's contacts become App Events sent to the Paragon stand-in.
    outbox: { ...config.outbox, source: config.outbox.source ?? DEMO_APP_SOURCE },
    log: { level: 'warn', pretty: 'never' },
  });
}

/**
 * `hubsync demo`: the stand-in HubSpot and Paragon, the embedded database and the whole daemon in
 * one process. A realistic change stream runs with dropped and duplicated webhooks; a live view
 * shows the three paths at work (webhooks, the journal, polling); at the end (or on Ctrl-C) the
 * journal catches up and a last poll runs, the mirror is compared with the stand-in's ground
 * truth, and the report comparing the paths is printed.
 */
export async function runDemo(ctx: Context, options: DemoOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'hubsync-demo-')));
  const log = createLogger({ level: 'warn', pretty: 'never', destination: process.stderr });
  const handle = await openDatabase({ ...ctx.config.database, url: '', embeddedDir: dataDir }, undefined, { serve: true });
  let stopAll = async () => {};
  let sandbox: Awaited<ReturnType<typeof startSandboxMode>> | undefined;
  try {
    await migrateToLatest(handle.db);
    await createDemoApp(handle.db);
    sandbox = await startSandboxMode(demoConfig(ctx.config, dataDir, options), log);
    const config = sandbox.config;
    const daemon = await buildDaemon(config, handle, log, 'all');
    // The journal's subscriptions first, so it sees the change stream from its start, as webhooks do.
    // With the jobs as the daemon runs them: a custom object named in the file is its type id here.
    const journal = config.hubspot.journal!;
    const resolved = { ...config, jobs: daemon.jobs };
    await syncSubscriptions({ db: handle.db, api: journalApi(resolved, journal, journalTokens(resolved, journal)), log, config: { jobs: daemon.jobs, journal } });
    stopAll = await startAll(daemon.services, log);
    sandbox.connect(daemon.receiverUrl()!.replace('//0.0.0.0:', '//127.0.0.1:'));
    const polling = daemon.services.find((service) => service.name === 'polling') as PollingService;
    const processor = daemon.services.find((service) => 'idle' in service) as { idle(): Promise<void> } | undefined;

    out.write(`hubsync demo: ${config.jobs.map((job) => job.name).join(', ')} from the HubSpot stand-in at ${sandbox.sandbox.baseUrl}\n`);
    out.write(
      `webhooks drop ${pct(options.dropRate)} and duplicate ${pct(options.duplicateRate)} of events; the journal is read every ${config.hubspot.journal!.pollIntervalMs / 1000} s; ` +
        `polling every 5 s; ${options.durationSeconds} s (Ctrl-C ends early)\n\n`,
    );

    const view = liveView(out);
    const started = Date.now();
    let appTicks = 0;
    let appWrites = 0;
    const figures = async () => {
      // The sample app at work: its contact writes become App Events (outbox.source, then Paragon).
      if (config.outbox.source?.table === DEMO_APP_TABLE) appWrites += await demoAppActivity(handle.db, appTicks++);
      const deliveries = sandbox!.sandbox.hubspot.deliveries();
      const rows = await sql<{ n: number }>`select count(*)::int as n from hubspot_objects`.execute(handle.db);
      const inbox = await webhookStatus(handle.db);
      // A backfill in progress with its total, percentage and ETA (the first one, as the demo starts).
      const running = backfillsInProgress(await pollingStatus(handle.db, daemon.jobs));
      return [
        `elapsed ${Math.round((Date.now() - started) / 1000)} s / ${options.durationSeconds} s`,
        `HubSpot events   ${deliveries.length} generated, ${deliveries.filter((d) => d.dropped).length} dropped, ${deliveries.filter((d) => d.duplicated).length} duplicated`,
        `webhooks         ${daemon.metrics.total('webhook.events.received')} received, ${daemon.metrics.total('webhook.events.duplicate')} duplicates folded, backlog ${inbox.backlog}`,
        `journal          ${daemon.metrics.total('journal.entries')} entries, ${daemon.metrics.total('journal.events.received')} events read, ${daemon.metrics.total('journal.events.duplicate')} duplicates folded, ${daemon.metrics.total('journal.gaps')} gaps`,
        `polling          ${daemon.metrics.total('polling.runs')} runs, ${daemon.metrics.total('polling.records')} records read, ${daemon.metrics.total('hubspot.api.calls')} API calls, ${daemon.metrics.total('hubspot.api.429s')} × 429` +
          (running.length > 0 ? `; ${running.join('; ')}` : ''),
        `mirror           ${rows.rows[0]?.n ?? 0} objects`,
        `App Events       ${appWrites} app contact writes, ${daemon.metrics.total('outbox.source.enqueued')} enqueued, ${daemon.metrics.total('outbox.delivered')} delivered to Paragon (the stand-in received ${sandbox!.sandbox.paragon?.appEvents.length ?? 0})`,
      ];
    };
    const interrupted = await runFor(options.durationSeconds * 1000, async () => view.show(await figures()));
    view.show(await figures());
    view.done();
    out.write(`\n${interrupted ? 'interrupted: ' : ''}stopping the change stream; catching up (webhook retries, the journal, one last poll, archived sweep and association sweep per job)\n`);

    sandbox.stopStream();
    await withTimeout(sandbox.sandbox.idle(), 15_000);
    await journalCaughtUp(daemon, sandbox.sandbox.hubspot.clock.now(), 15_000);
    await drain(handle.db, processor);
    // Polls that start now: one already going may have started before the stream stopped.
    for (const job of config.jobs) {
      await polling.runNow(job.name, 'poll');
      await polling.runNow(job.name, 'sweep');
      await polling.runNow(job.name, 'associations');
    }
    await drain(handle.db, processor);

    // Let the outbox source see the app's last writes (two scans), and delivery send what they enqueued.
    const enqueued = () => daemon.metrics.total('outbox.source.enqueued');
    const delivered = () => daemon.metrics.total('outbox.delivered');
    await sleep(2 * DEMO_APP_SOURCE.pollIntervalMs);
    for (let i = 0; i < 100 && delivered() < enqueued(); i++) await sleep(100);
    const report = await checkConvergence(handle.db, sandbox.sandbox.hubspot.truth(), daemon.jobs);
    out.write(`\n${formatConvergence(report)}\n`);
    out.write(`App Events: ${enqueued()} enqueued from ${appWrites} writes to the sample app table ${DEMO_APP_TABLE}, ${delivered()} delivered to the Paragon stand-in\n\n`);
    const status = await collectStatus(handle.db, resolved, log);
    // The report without its header, processes and jobs: the live view showed those.
    out.write(`${formatStatus(status, { withoutHead: true })}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await stopAll();
    await sandbox?.close();
    await handle.close();
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

function formatConvergence(report: ConvergenceReport): string {
  const compared = [
    `${report.checked} objects (values, deletions, ${report.merged} ids merged away: their final survivor, ${report.erased} privacy-deleted: values erased)`,
    ...report.associations.map((a) => `associations ${a.pair} (${a.edges} edges)`),
  ];
  if (report.ok) return `convergence check PASSED: the mirror matches HubSpot's ground truth:\n  ${compared.join('\n  ')}`;
  const lines = [`convergence check FAILED: ${report.mismatches.length} differences; compared:`, ...compared.map((c) => `  ${c}`)];
  for (const m of report.mismatches.slice(0, 15)) lines.push(`  ${m.ref} ${m.what}: expected ${JSON.stringify(m.expected)}, mirror has ${JSON.stringify(m.actual)}`);
  return lines.join('\n');
}

/** A compact block redrawn in place on a terminal; a plain line every few seconds otherwise. */
function liveView(out: NodeJS.WriteStream) {
  let drawn = 0;
  let lastPlain = 0;
  return {
    show(lines: string[]) {
      if (out.isTTY) {
        if (drawn) out.write(`\x1b[${drawn}A`);
        for (const line of lines) out.write(`\x1b[2K${line}\n`);
        drawn = lines.length;
      } else if (Date.now() - lastPlain >= 5_000) {
        lastPlain = Date.now();
        out.write(`${lines.join(' | ')}\n`);
      }
    },
    done() {
      drawn = 0;
    },
  };
}

/** Calls `tick` every second for `ms`, or until SIGINT/SIGTERM; true when interrupted. */
async function runFor(ms: number, tick: () => Promise<void>): Promise<boolean> {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    let busy = false;
    const timer = setInterval(() => {
      if (Date.now() >= end) return finish(false);
      if (busy) return;
      busy = true;
      tick().finally(() => (busy = false));
    }, 1_000);
    const onSignal = () => finish(true);
    function finish(interrupted: boolean) {
      clearInterval(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(interrupted);
    }
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

/**
 * Resolves once every journal consumer has found nothing newer, in a step begun after `since`, or
 * after `timeoutMs` (its checks end then too: a check left running would keep the process alive).
 */
export async function journalCaughtUp(daemon: { services: { name: string }[] }, since: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  const consumers = daemon.services.filter((s): s is JournalConsumer => s.name.startsWith('journal-consumer:'));
  const caughtUp = (c: JournalConsumer) => {
    const last = c.lastOutcome();
    return (last?.kind === 'caught-up' || (last?.kind === 'read' && !last.more)) && (c.lastStepAt() ?? 0) > since;
  };
  while (!consumers.every(caughtUp) && Date.now() < end) await sleep(100);
}

async function drain(db: Parameters<typeof webhookStatus>[0], processor: { idle(): Promise<void> } | undefined): Promise<void> {
  for (let i = 0; i < 50 && processor; i++) {
    if ((await webhookStatus(db)).backlog === 0) return;
    await withTimeout(processor.idle(), 5_000);
  }
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

const pct = (value: number) => `${Math.round(value * 100)}%`;
