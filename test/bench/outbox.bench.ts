/**
 * Outbox delivery throughput against the Paragon sandbox over real HTTP.
 *
 * 1. Rate-limited: the sandbox accepts `rate` App Events/s and answers 429 + Retry-After beyond
 *    it; the figure is delivered events/s beside that rate, as a ratio (1.00 = every slot used,
 *    the target is ≥ 0.9).
 * 2. Unlimited: how fast one delivery loop can go at all (claim, sign, POST, mark sent), the
 *    headroom above any realistic Paragon rate.
 *
 * `npm run bench outbox`, or standalone: `node test/bench/outbox.bench.ts`.
 * Real Postgres when DATABASE_URL is set (in a scratch database), embedded PGlite otherwise.
 */
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { configSchema } from '../../src/config/schema.ts';
import { openDatabase } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { insertAppEvents } from '../../src/outbox/store.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.ts';
import { createOutboxDelivery } from '../../src/outbox/delivery.ts';
import { generateSigningKeyPair, startParagonSandbox, type RunningParagonSandbox } from '../../src/sandbox/paragon/index.ts';
import { createServerDatabase, dropServerDatabase, testDatabaseConfig } from '../helpers/db.ts';

const PROJECT = 'bench-project';
const CONTACTS = 500;

export interface OutboxBenchOptions {
  databaseUrl?: string;
  /** The sandbox's App Event rate (events/s). */
  rate?: number;
  /** Seconds of events at that rate to deliver. */
  seconds?: number;
}

interface Measured {
  events: number;
  seconds: number;
  rate: number;
  throttled: number;
}

async function deliverAll(db: Kysely<Database>, sandbox: RunningParagonSandbox, signingKey: string, events: number, round: number, hotKeys?: number): Promise<Measured> {
  const batch = [];
  for (let i = 0; i < events; i++) {
    // Spread: contacts interleaved. Hot: a few contacts, each with a long backlog enqueued in one go.
    const contact = hotKeys ? Math.floor(i / (events / hotKeys)) : i % CONTACTS;
    batch.push({ userId: `user-${contact % 50}`, name: 'Contact Updated', payload: { contact, n: i, email: `c${contact}@example.com` }, idempotencyKey: `r${round}:${i}`, orderingKey: `c${contact}` });
  }
  for (let i = 0; i < batch.length; i += 1000) await insertAppEvents(db, batch.slice(i, i + 1000));
  const config = configSchema.parse({
    paragon: { projectId: PROJECT, signingKey, baseUrl: sandbox.baseUrl },
    outbox: { pollIntervalMs: 10, batchSize: 100, concurrency: 16, backoffBaseMs: 50, backoffMaxMs: 2000 },
  });
  const loop = createOutboxDelivery({ db, paragon: config.paragon!, outbox: config.outbox, log: pino({ level: 'silent' }) });
  sandbox.paragon.reset();
  const started = performance.now();
  await loop.start();
  while (sandbox.paragon.appEvents.length < events) await new Promise((resolve) => setTimeout(resolve, 5));
  const seconds = (performance.now() - started) / 1000;
  await loop.stop();
  const left = await db.selectFrom('app_event_outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '!=', 'sent').executeTakeFirstOrThrow();
  if (Number(left.n) !== 0) throw new Error(`${left.n} events not marked sent`);
  return { events, seconds, rate: events / seconds, throttled: sandbox.paragon.stats.throttled };
}

/** Runs the benchmark and returns the lines to print. */
export async function run(options: OutboxBenchOptions = {}): Promise<string[]> {
  const adminUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  const url = adminUrl ? await createServerDatabase(adminUrl) : '';
  const handle = await openDatabase(testDatabaseConfig(url));
  const keys = generateSigningKeyPair();
  const sandbox = await startParagonSandbox({ projectId: PROJECT, publicKeyPem: keys.publicKeyPem });
  try {
    const { db } = handle;
    await migrateToLatest(db);
    const rate = options.rate ?? (url ? 500 : 200);
    const seconds = options.seconds ?? 8;
    const lines = [`database: ${url ? 'postgres' : 'embedded PGlite'}; one delivery loop (batch 100, concurrency 16), ${CONTACTS} contacts, 50 users`];

    sandbox.paragon.gate.set({ ratePerSecond: rate });
    const limited = await deliverAll(db, sandbox, keys.privateKeyPem, rate * seconds, 1);
    lines.push(
      `rate-limited: ${limited.events} events in ${limited.seconds.toFixed(2)} s = ${limited.rate.toFixed(0)} events/s vs sandbox rate ${rate}/s: ` +
        `ratio ${(limited.rate / rate).toFixed(2)} (target ≥ 0.9); ${limited.throttled} 429s answered`,
    );

    sandbox.paragon.gate.set({ ratePerSecond: 0 });
    const free = await deliverAll(db, sandbox, keys.privateKeyPem, url ? 5000 : 2000, 2);
    lines.push(`unlimited: ${free.events} events in ${free.seconds.toFixed(2)} s = ${free.rate.toFixed(0)} events/s (headroom ${(free.rate / rate).toFixed(1)}× the rate above)`);
    const hot = await deliverAll(db, sandbox, keys.privateKeyPem, url ? 5000 : 2000, 3, 20);
    lines.push(`unlimited, 20 contacts with long backlogs: ${hot.events} events in ${hot.seconds.toFixed(2)} s = ${hot.rate.toFixed(0)} events/s`);
    return lines;
  } finally {
    await sandbox.close();
    await handle.close();
    if (url) await dropServerDatabase(adminUrl, url);
  }
}


if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of await run()) console.log(line);
}
