/**
 * Polling throughput: records/s of a cursored incremental search over the sandbox at real time
 * (time scale 1), beside the ceiling its configured limits imply in the same run: searches per
 * second × 200 records a page, bounded by the 10-second window. Also the 429 count (target: zero in
 * steady state) and the list backfill's records/s beside its own ceiling (the window × budgetShare ×
 * 100 a page; the run starts with one full window, so short runs can exceed it). Target: search ≥ 0.9
 * × its ceiling. Page writes are sampled too: the database must keep up for the ratio to hold.
 * A third run is the incremental search with associations on (each page's objects' association
 * sets read by v4 batch reads, 100 a call, and applied with the page): records/s against the same
 * ceiling, and the API calls per 1,000 records it costs.
 *
 * `npm run bench polling`, or standalone: `node test/bench/polling.bench.ts`.
 * Real Postgres when DATABASE_URL is set (in a scratch database), embedded PGlite otherwise.
 */
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.ts';
import { openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { saveCursor } from '../../src/polling/cursor-store.ts';
import { createHubSpotAccounts } from '../../src/hubspot/client.ts';
import { Metrics } from '../../src/metrics/registry.ts';
import { runJob } from '../../src/polling/jobs.ts';
import { DEFAULT_PORTAL_ID, startSandbox } from '../../src/sandbox/index.ts';
import { createServerDatabase, dropServerDatabase, testDatabaseConfig } from '../helpers/db.ts';

const PORTAL = DEFAULT_PORTAL_ID;
const TOKEN = `pat-sandbox-${PORTAL}`;
const PAGE = 200;
const WARMUP = 2000;

export interface PollingBenchOptions {
  databaseUrl?: string;
  /** Records changed before the timed search run. */
  records?: number;
  /** Records listed by the timed backfill. */
  backfillRecords?: number;
  /** Records changed before the timed search run with associations on (each with one association). */
  associationRecords?: number;
}

export async function run(options: PollingBenchOptions = {}): Promise<string[]> {
  const adminUrl = options.databaseUrl ?? process.env.DATABASE_URL;
  const records = options.records ?? 12_000;
  const backfillRecords = options.backfillRecords ?? 25_000;
  const associationRecords = options.associationRecords ?? 6_000;
  const url = adminUrl ? await createServerDatabase(adminUrl) : undefined;
  const handle = await openDatabase(testDatabaseConfig(url));
  const sandbox = await startSandbox({ timeScale: 1 });
  try {
    await migrateToLatest(handle.db);
    const limits = sandbox.hubspot.accounts.list()[0]!.limiter.config;
    const config = configSchema.parse({
      hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: TOKEN }] },
      jobs: [
        { name: 'bench-search', portalId: PORTAL, objectType: 'contacts', properties: ['email', 'firstname', 'lastname'], lookbackSeconds: 0 },
        { name: 'bench-list', portalId: PORTAL, objectType: 'companies', properties: ['name', 'domain'], lookbackSeconds: 0 },
        { name: 'bench-warmup', portalId: PORTAL, objectType: 'deals', properties: ['dealname'], lookbackSeconds: 0 },
        { name: 'bench-associations', portalId: PORTAL, objectType: 'tickets', properties: ['subject'], lookbackSeconds: 0, associations: ['companies'] },
      ],
    });
    const log = pino({ level: 'warn' });
    const metrics = new Metrics();
    const accounts = createHubSpotAccounts(config.hubspot, { log, metrics });
    const deps = { db: handle.db, accounts, log, metrics, worker: 'bench' };

    // Distinct timestamps, as changes usually come: a page re-reads only its last record.
    const base = Date.now() - records - 10_000;
    for (let i = 0; i < records; i++) sandbox.hubspot.create('contacts', { email: `c${i}@example.com`, firstname: `F${i}`, lastname: `L${i}` }, { at: base + i, silent: true });
    const companies = sandbox.hubspot.seed({ objectType: 'companies', count: backfillRecords, at: base });
    for (let i = 0; i < associationRecords; i++) {
      const ticket = sandbox.hubspot.create('tickets', { subject: `T${i}` }, { at: base + i, silent: true });
      sandbox.hubspot.associate('tickets', ticket.id, 'companies', companies[i % companies.length]!, { at: base + i, silent: true });
    }
    for (let i = 0; i < WARMUP; i++) sandbox.hubspot.create('deals', { dealname: `D${i}` }, { at: base + i, silent: true });
    // The searched jobs start incremental, just before their records (no backfill).
    for (const job of [config.jobs[2]!, config.jobs[0]!, config.jobs[3]!]) {
      await saveCursor(handle.db, { jobName: job.name, portalId: PORTAL, objectType: job.objectType, mode: 'incremental', backfillAfter: null, backfillStartedAt: null, cursorTs: base - 1, cursorId: null, cursorTsComplete: false, rescanFrom: null }, new Date());
    }

    // Warm-up (not timed): connections, JIT, and the budget's arrival margin settling.
    await runJob(deps, config.jobs[2]!, 'poll');
    const warmup = await handle.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'bench-warmup').executeTakeFirstOrThrow();
    const search = await timed(() => runJob(deps, config.jobs[0]!, 'poll'));
    const writes = metrics.snapshot().samples['polling.page_write_ms{job=bench-search}'];
    const searchRun = await handle.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'bench-search').executeTakeFirstOrThrow();
    const withAssociations = await timed(() => runJob(deps, config.jobs[3]!, 'poll'));
    const associationRun = await handle.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'bench-associations').executeTakeFirstOrThrow();
    const edges = await handle.db.selectFrom('hubspot_associations').select((eb) => eb.fn.countAll<number>().as('n')).where('from_object_type', '=', 'tickets').where('removed', '=', false).executeTakeFirstOrThrow();
    const list = await timed(() => runJob(deps, config.jobs[1]!, 'poll'));
    const listRun = await handle.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'bench-list').where('kind', '=', 'backfill').executeTakeFirstOrThrow();
    accounts.close();

    const windowSeconds = 10;
    const searchCeiling = Math.min(limits.searchPerSecond * PAGE, (limits.perTenSeconds / windowSeconds) * PAGE);
    const searchRate = records / (search.ms / 1000);
    const share = config.hubspot.accounts[0]!.budgetShare;
    const listCeiling = (Math.floor(limits.perTenSeconds * share) / windowSeconds) * 100;
    const listRate = backfillRecords / (list.ms / 1000);
    const db = url ? 'postgres' : 'pglite';
    const associationRate = associationRecords / (withAssociations.ms / 1000);
    const callsPer1000 = (run: { api_calls: number }, n: number) => ((Number(run.api_calls) / n) * 1000).toFixed(1);
    return [
      `polling (${db}): incremental search ${records} records in ${(search.ms / 1000).toFixed(1)} s = ${searchRate.toFixed(0)} records/s; ceiling ${searchCeiling} records/s (${limits.searchPerSecond} searches/s × ${PAGE}, window ${limits.perTenSeconds}/10 s); ratio ${(searchRate / searchCeiling).toFixed(2)} (target ≥ 0.9); ${searchRun.api_calls} calls, 429s: ${searchRun.rate_limited} (warm-up of ${WARMUP}: ${warmup.rate_limited}); status ${search.value.status}; page writes p50 ${writes?.p50.toFixed(0)} ms, p95 ${writes?.p95.toFixed(0)} ms`,
      `polling (${db}): incremental search with associations on, ${associationRecords} records (${Number(edges.n)} edges mirrored) in ${(withAssociations.ms / 1000).toFixed(1)} s = ${associationRate.toFixed(0)} records/s; same ceiling ${searchCeiling} records/s; ratio ${(associationRate / searchCeiling).toFixed(2)} (without associations ${(searchRate / searchCeiling).toFixed(2)}); API calls per 1,000 records ${callsPer1000(associationRun, associationRecords)} (without associations ${callsPer1000(searchRun, records)}); 429s: ${associationRun.rate_limited}; status ${withAssociations.value.status}`,
      `polling (${db}): list backfill ${backfillRecords} records in ${(list.ms / 1000).toFixed(1)} s = ${listRate.toFixed(0)} records/s; ceiling ${listCeiling.toFixed(0)} records/s (${limits.perTenSeconds} × budgetShare ${share} per 10 s × 100); ratio ${(listRate / listCeiling).toFixed(2)}; ${listRun.api_calls} calls, 429s: ${listRun.rate_limited}`,
    ];
  } finally {
    await sandbox.close();
    await handle.close();
    if (url && adminUrl) await dropServerDatabase(adminUrl, url);
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}


if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of await run()) console.log(line);
}
