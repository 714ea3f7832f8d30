/**
 * The Webhooks Journal path: events into the mirror, and how late, beside what the stand-in itself
 * can hand out, measured in the same run:
 * - live: the stand-in writes changes at a steady rate while the daemon's consumer (one poll a
 *   second when caught up) and processor run, and a bare reader (download and parse, nothing stored)
 *   polls the same journal once a second. Throughput: events applied to the mirror per second in the
 *   steady part of the run against the events per second the bare reader received (target ≥ 0.9).
 *   Lag: occurredAt → applied (the inbox row marked processed with the mirror write), p50/p99,
 *   against the bare reader's occurredAt → seen (the floor one poll a second allows); target p99 < 2 s.
 * - backlog: events written while nobody read (a consumer back from downtime) drained into the
 *   mirror, events/s against the bare reader draining the same backlog (the database is the limit).
 *
 * `npm run bench journal`, or standalone: `node test/bench/journal.bench.ts`.
 * Real Postgres when DATABASE_URL is set (in a scratch database), embedded PGlite otherwise.
 */
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.ts';
import { openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createHubSpotAccounts } from '../../src/hubspot/client.ts';
import type { EntryRef, JournalApi } from '../../src/journal/api.ts';
import { createJournalConsumer } from '../../src/journal/consumer.ts';
import { journalApi, journalTargets, journalTokens } from '../../src/journal/service.ts';
import { syncSubscriptions } from '../../src/journal/sync.ts';
import { Metrics, quantile } from '../../src/metrics/registry.ts';
import { webhookStatus } from '../../src/webhooks/inbox-store.ts';
import { createProcessorService, jobProperties } from '../../src/webhooks/service.ts';
import { startSandbox } from '../../src/sandbox/index.ts';
import { createServerDatabase, dropServerDatabase, testDatabaseConfig } from '../helpers/db.ts';

const PORTAL = 62515;
const APP = { appId: 4242, clientId: 'bench-client', clientSecret: 'bench-secret' };
const POLL_MS = 1000;
/** The first seconds of the live run are left out of the throughput: both readers start empty. */
const SETTLE_MS = 3000;

export interface JournalBenchOptions {
  databaseUrl?: string;
  /** Events per second the stand-in writes in the live part. */
  rate?: number;
  /** Seconds of the live part. */
  seconds?: number;
  /** Events in the backlog part. */
  backlog?: number;
}

/** Reads a journal as fast as it can hand entries out, downloading and parsing every file, storing nothing. */
function bareReader(api: JournalApi) {
  let offset: string | undefined;
  const seen = new Map<string, number>();
  return {
    seen,
    /** Reads until caught up; returns the events read. */
    async drain(): Promise<number> {
      let read = 0;
      for (;;) {
        let refs: EntryRef[];
        const startedFresh = offset === undefined;
        const answer = startedFresh ? await api.first('earliest') : await api.next(offset!, 100);
        if (!answer.ok && answer.kind === 'rate_limited') {
          await new Promise((r) => setTimeout(r, answer.retryAfterMs ?? 1000));
          continue;
        }
        if (!answer.ok) throw new Error(answer.message);
        refs = Array.isArray(answer.value) ? answer.value : answer.value ? [answer.value] : [];
        if (refs.length === 0) return read;
        const files = await Promise.all(refs.map((ref) => api.download(ref)));
        const at = Date.now();
        for (const file of files) {
          if (!file.ok) throw new Error(file.message);
          for (const event of file.value.events) {
            const key = JSON.stringify(event);
            if (!seen.has(key)) seen.set(key, at);
            read++;
          }
        }
        offset = refs.at(-1)!.offset;
        // A short batch is the end, for now.
        if (!startedFresh && refs.length < 100) return read;
      }
    },
  };
}

export async function run(options: JournalBenchOptions = {}): Promise<string[]> {
  const adminUrl = options.databaseUrl ?? process.env.DATABASE_URL;
  const rate = options.rate ?? 1000;
  const seconds = options.seconds ?? 20;
  const backlog = options.backlog ?? 20_000;
  const url = adminUrl ? await createServerDatabase(adminUrl) : undefined;
  const handle = await openDatabase(testDatabaseConfig(url));
  const sandbox = await startSandbox({ timeScale: 1, hubspot: { accounts: [{ portalId: PORTAL, accessToken: `pat-sandbox-${PORTAL}` }], journal: { apps: [APP] } } });
  const log = pino({ level: 'warn' });
  const metrics = new Metrics();
  const stops: (() => Promise<void>)[] = [];
  try {
    await migrateToLatest(handle.db);
    const config = configSchema.parse({
      hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: PORTAL, accessToken: `pat-sandbox-${PORTAL}` }], journal: { clientId: APP.clientId, clientSecret: APP.clientSecret, pollIntervalMs: POLL_MS } },
      jobs: [{ name: 'contacts', portalId: PORTAL, objectType: 'contacts', properties: ['email', 'firstname', 'lastname', 'phone'] }],
    });
    const journal = config.hubspot.journal!;
    const tokens = journalTokens(config, journal);
    const target = journalTargets(config, journal)[0]!;
    await syncSubscriptions({ db: handle.db, api: journalApi(config, journal, tokens), log, config: { jobs: config.jobs, journal } });
    const hs = sandbox.hubspot;
    const ids = hs.seed({ portalId: PORTAL, objectType: 'contacts', count: 5000 });
    let n = 0;
    const change = () => {
      n++;
      hs.update('contacts', ids[n % ids.length]!, n % 2 ? { firstname: `F${n}` } : { phone: `+1 555 ${n}`, lastname: `L${n}` }, { portalId: PORTAL });
    };

    const accounts = createHubSpotAccounts(config.hubspot, { log, metrics });
    stops.push(async () => accounts.close());
    const startDaemon = async () => {
      const consumer = createJournalConsumer({ db: handle.db, log, metrics, config: journal, target, api: journalApi(config, journal, tokens, target), jobs: config.jobs, worker: 'bench' });
      const processor = createProcessorService({
        db: handle.db, log, metrics, config: config.webhooks, intervalMs: config.webhooks.processIntervalMs, listen: handle.listen, reader: accounts.reader, properties: jobProperties(config),
      });
      await processor.start();
      await consumer.start();
      return async () => {
        await consumer.stop();
        await processor.stop();
      };
    };
    const applied = async () => (await sql<{ n: number }>`select count(*)::int as n from webhook_events where source = 'journal' and processed_at is not null`.execute(handle.db)).rows[0]!.n;
    const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 300_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // Live: a steady stream, both readers polling once a second when caught up.
    const bare = bareReader(journalApi(config, journal, tokens));
    let stopDaemon = await startDaemon();
    let live = true;
    const bareLoop = (async () => {
      while (live) {
        await bare.drain();
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    })();
    const t0 = Date.now();
    const perTick = Math.max(1, Math.round(rate / 100));
    const producer = setInterval(() => {
      for (let i = 0; i < perTick; i++) change();
    }, 10);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(producer);
    const t1 = Date.now();
    const written = n;
    await hs.journal.idle();
    await until('the live events in the mirror', async () => (await applied()) >= written);
    live = false;
    await bareLoop;
    await bare.drain();
    const w0 = t0 + SETTLE_MS;
    const windowS = (t1 - w0) / 1000;
    const intoMirror = (
      await sql<{ n: number }>`select count(*)::int as n from webhook_events where source = 'journal' and processed_at >= ${new Date(w0)} and processed_at < ${new Date(t1)}`.execute(handle.db)
    ).rows[0]!.n / windowS;
    const bareRate = [...bare.seen.values()].filter((at) => at >= w0 && at < t1).length / windowS;
    const lags = (
      await sql<{ ms: number }>`select (extract(epoch from processed_at - occurred_at) * 1000)::float8 as ms from webhook_events where source = 'journal' and occurred_at >= ${new Date(w0)} and occurred_at < ${new Date(t1)}`.execute(handle.db)
    ).rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    const bareLags = [...bare.seen].flatMap(([key, at]) => {
      const occurredAt = Date.parse((JSON.parse(key) as { occurredAt: string }).occurredAt);
      return occurredAt >= w0 && occurredAt < t1 ? [at - occurredAt] : [];
    }).sort((a, b) => a - b);

    // Backlog: written while nobody read.
    await stopDaemon();
    const before = await applied();
    for (let i = 0; i < backlog; i++) change();
    await hs.journal.idle();
    let started = performance.now();
    const bareRead = await bare.drain();
    const bareBacklogRate = bareRead / ((performance.now() - started) / 1000);
    started = performance.now();
    stopDaemon = await startDaemon();
    stops.push(() => stopDaemon());
    await until('the backlog in the mirror', async () => (await applied()) >= before + backlog && (await webhookStatus(handle.db)).backlog === 0);
    const drainRate = backlog / ((performance.now() - started) / 1000);

    const ms = (v: number | null | undefined) => `${Math.round(v ?? Number.NaN)} ms`;
    return [
      `live: ${written} events written at ${Math.round(written / ((t1 - t0) / 1000))}/s for ${seconds} s; the consumer and a bare reader poll once a second when caught up`,
      `  into the mirror ${Math.round(intoMirror)} events/s vs the bare reader's ${Math.round(bareRate)} events/s over the last ${windowS.toFixed(1)} s: ratio ${(intoMirror / bareRate).toFixed(2)} (target >= 0.9)`,
      `  lag occurredAt -> mirror p50 ${ms(quantile(lags, 0.5))}, p99 ${ms(quantile(lags, 0.99))} vs the bare reader's p50 ${ms(quantile(bareLags, 0.5))}, p99 ${ms(quantile(bareLags, 0.99))} (target p99 < 2000 ms)`,
      `backlog: ${backlog} events drained into the mirror at ${Math.round(drainRate)} events/s vs the bare reader's ${Math.round(bareBacklogRate)} events/s: ratio ${(drainRate / bareBacklogRate).toFixed(2)}`,
      `  (${metrics.total('journal.entries')} entries read by the consumer, ${metrics.total('webhook.events.processed')} inbox events applied)`,
    ];
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await sandbox.close();
    await handle.close();
    if (url) await dropServerDatabase(adminUrl!, url);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of await run()) console.log(line);
}
