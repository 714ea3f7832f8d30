/**
 * One run of a polling job: take the job's lease (one worker at a time across every process), open a
 * `sync_runs` row, run the pass(es), close the row with its counts. Overlapping runs are skipped.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JobConfig } from '../config/schema.ts';
import { getCursor, resetCursors } from './cursor-store.ts';
import { acquireLease, releaseLease, renewLease } from './lease-store.ts';
import { completeRescans, pendingRescan } from './rescan-store.ts';
import { abandonRuns, finishRun, insertRun, updateRunCounts } from './run-store.ts';
import type { Database } from '../db/schema.ts';
import type { SyncRunKind } from '../db/sync-tables.ts';
import { coerceError } from '../errors.ts';
import type { HubSpotAccount, HubSpotAccounts } from '../hubspot/client.ts';
import { mirrorProperties } from '../hubspot/objects.ts';
import type { Metrics } from '../metrics/registry.ts';
import { BackfillRequested, backfillPass, incrementalPass, PassFailed, sweepPass, type PassContext } from './passes.ts';
import { associationSweepPass } from './association-sweep.ts';
import { createProgress } from './progress.ts';

export interface PollDeps {
  db: Kysely<Database>;
  accounts: HubSpotAccounts;
  log: Logger;
  metrics?: Metrics;
  /** This process's lease owner id (unique per process). */
  worker: string;
  now?: () => number;
  /** Aborts in-flight runs (stop). */
  signal?: AbortSignal;
}

/** `poll`: backfill and incremental; `sweep`: archived records; `associations`: the association sweep. */
export const RUN_KINDS = ['poll', 'sweep', 'associations'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export type RunOutcome =
  | { status: 'skipped'; reason: 'leased' | 'no-account' | 'backoff' }
  | {
      status: 'ok' | 'failed' | 'aborted';
      runs: { id: number; kind: SyncRunKind; records: number; error: string | null }[];
      /** Why a run failed before any pass could record it (the database away). */
      err?: Error;
    };

/** Lease name of a job's poll or sweep: the two may overlap, two polls of one job never. */
export function leaseName(job: Pick<JobConfig, 'name'>, kind: RunKind): string {
  return `${kind}:${job.name}`;
}

/**
 * Runs a job once: `poll` does the list backfill when the cursor asks for one, then the incremental
 * search; `sweep` lists archived records. Returns `skipped` when another worker holds the lease.
 */
export async function runJob(deps: PollDeps, job: JobConfig, kind: RunKind): Promise<RunOutcome> {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ module: 'polling', job: job.name, portalId: job.portalId });
  const account = deps.accounts.get(job.portalId);
  if (!account) {
    log.error('no hubspot.accounts entry for the job\'s portal: not polling');
    return { status: 'skipped', reason: 'no-account' };
  }
  const lease = leaseName(job, kind);
  const ttlMs = job.leaseSeconds * 1000;
  if (!(await acquireLease(deps.db, lease, deps.worker, new Date(now()), ttlMs))) {
    log.debug({ lease }, 'job is running elsewhere: skipped');
    deps.metrics?.count('polling.runs.skipped', 1, { job: job.name });
    return { status: 'skipped', reason: 'leased' };
  }
  const controller = new AbortController();
  const onStop = () => controller.abort();
  deps.signal?.addEventListener('abort', onStop, { once: true });
  if (deps.signal?.aborted) controller.abort();
  // Renewed well inside its expiry; a lost lease (this worker stalled past it) stops the run.
  const renew = setInterval(() => {
    renewLease(deps.db, lease, deps.worker, new Date(now()), ttlMs).then(
      (held) => {
        if (!held) {
          log.warn({ lease }, 'job lease lost: stopping the run');
          controller.abort();
        }
      },
      (err: unknown) => log.warn({ err }, 'job lease renewal failed'),
    );
  }, Math.max(50, ttlMs / 3));
  const runs: { id: number; kind: SyncRunKind; records: number; error: string | null }[] = [];
  try {
    const abandoned = await abandonRuns(deps.db, job.name, kind === 'poll' ? ['backfill', 'incremental'] : [kind], new Date(now()));
    if (abandoned > 0) log.warn({ abandoned }, 'closed runs a stopped worker left open; resuming from the committed cursor');
    const properties = await resolveProperties(job, account, controller.signal);
    const objectType = job.objectType;
    const kinds: SyncRunKind[] = [];
    // A requested re-read (a journal gap): the search starts from its point, and archived records are swept too.
    const rescan = kind === 'poll' ? await pendingRescan(deps.db, job.name) : undefined;
    if (kind !== 'poll') kinds.push(kind);
    else {
      const cursor = await getCursor(deps.db, { jobName: job.name, portalId: job.portalId, objectType });
      if (!cursor || cursor.mode === 'backfill') kinds.push('backfill');
      kinds.push('incremental');
      if (rescan) {
        kinds.push('sweep');
        log.info({ from: new Date(rescan.from).toISOString() }, 're-reading from a requested point (a journal gap)');
      }
    }
    for (const k of kinds) {
      const run = await runPass(deps, job, account, k, properties, controller.signal, log, rescan?.from);
      runs.push(run);
      if (run.status !== 'ok') return { status: run.status, runs };
    }
    if (rescan) await completeRescans(deps.db, job.name, rescan.upTo, new Date(now()));
    return { status: 'ok', runs };
  } finally {
    clearInterval(renew);
    deps.signal?.removeEventListener('abort', onStop);
    await releaseLease(deps.db, lease, deps.worker).catch((err: unknown) => log.warn({ err }, 'job lease release failed'));
  }
}

async function runPass(
  deps: PollDeps,
  job: JobConfig,
  account: HubSpotAccount,
  kind: SyncRunKind,
  properties: readonly string[] | undefined,
  signal: AbortSignal,
  log: Logger,
  rescanFrom: number | undefined,
): Promise<{ id: number; kind: SyncRunKind; records: number; error: string | null; status: 'ok' | 'failed' | 'aborted' }> {
  const now = deps.now ?? Date.now;
  const started = now();
  const objectType = job.objectType;
  const id = await insertRun(deps.db, { jobName: job.name, portalId: job.portalId, objectType, kind, worker: deps.worker, startedAt: new Date(started) });
  const stats = { calls: 0, rateLimited: 0 };
  const counts = { pages: 0, records: 0, total: null as number | null };
  const snapshot = () => ({ ...counts, apiCalls: stats.calls, rateLimited: stats.rateLimited });
  const progress = createProgress({ log, label: `${job.name} ${kind}`, now });
  let lastSaved = started;
  const ctx: PassContext = {
    db: deps.db, job, account, properties, log: log.child({ kind }), metrics: deps.metrics, now, signal, stats, counts, progress, rescanFrom,
    onPage: async () => {
      if (now() - lastSaved < 2_000) return;
      lastSaved = now();
      await updateRunCounts(deps.db, id, snapshot());
    },
  };
  let status: 'ok' | 'failed' | 'aborted' = 'ok';
  let error: string | null = null;
  try {
    if (kind === 'backfill') await backfillPass(ctx);
    else if (kind === 'incremental') await incrementalPass(ctx);
    else if (kind === 'associations') await associationSweepPass(ctx);
    else await sweepPass(ctx);
  } catch (err) {
    status = signal.aborted || err instanceof BackfillRequested ? 'aborted' : 'failed';
    error = err instanceof PassFailed || err instanceof BackfillRequested ? err.message : coerceError(err).message;
    // The scheduler logs when failures start and end (failureBackoff); each one is only a debug line.
    if (status === 'failed') log.debug({ err: coerceError(err), kind }, 'polling run failed');
    else if (err instanceof BackfillRequested) log.info({ kind }, err.message);
  }
  const finished = now();
  await finishRun(deps.db, id, { ...snapshot(), status, error, finishedAt: new Date(finished), durationMs: finished - started });
  deps.metrics?.count('polling.runs', 1, { job: job.name, kind, status });
  deps.metrics?.count('polling.429s', stats.rateLimited, { job: job.name });
  log[status === 'failed' ? 'debug' : 'info']({ kind, status, error, records: counts.records, pages: counts.pages, apiCalls: stats.calls, rateLimited: stats.rateLimited, durationMs: finished - started }, 'polling run finished');
  return { id, kind, records: counts.records, error, status };
}

/**
 * The job's property list; for `all`, every property the type has now (the account's cached list,
 * re-read hourly and when data names a new one); undefined when the API lists none (default properties).
 */
async function resolveProperties(job: JobConfig, account: HubSpotAccount, signal: AbortSignal): Promise<readonly string[] | undefined> {
  if (job.properties !== 'all') return mirrorProperties(job.objectType, job.properties);
  const result = await account.properties.names(job.objectType, signal);
  if (!result.ok) throw new PassFailed(`property list: ${result.message}`);
  return result.value;
}

/**
 * Makes the job's next run re-read everything through the list endpoint, without stopping the
 * daemon (`hubsync backfill <job>`). Returns how many cursors were reset.
 */
export async function startBackfill(db: Kysely<Database>, jobName: string, now: Date = new Date()): Promise<number> {
  return resetCursors(db, jobName, now);
}
