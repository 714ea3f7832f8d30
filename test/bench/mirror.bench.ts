/**
 * Mirror write throughput: observations/s through `applyObservations` (lock, rule, write, ledger)
 * in batches of 100, against a plain write of the same rows (the objects by one multi-row
 * INSERT … ON CONFLICT DO UPDATE, and their ledger rows, in one statement). The ratio is the
 * price of the lock and the rule, not of the rows the contract asks for; the target is ≥ 0.5.
 * The typical case runs twice: on tables never analysed, then after ANALYZE.
 *
 * `npm run bench mirror`, or standalone: `node test/bench/mirror.bench.ts`.
 * Real Postgres when DATABASE_URL is set (in a scratch database), embedded PGlite otherwise.
 */
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { arrayLiteral } from '../../src/db/sql.ts';
import { openDatabase } from '../../src/db/index.ts';
import { analyzeMirror } from '../../src/mirror/store.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import type { Database } from '../../src/db/schema.ts';
import { applyObservations } from '../../src/mirror/apply.ts';
import type { Observation } from '../../src/mirror/observation.ts';
import { createServerDatabase, dropServerDatabase, testDatabaseConfig } from '../helpers/db.ts';

const BATCH = 100;
const OBJECTS = 2_000;
const PROPERTIES = ['email', 'firstname', 'lastname', 'phone', 'company', 'city', 'country', 'jobtitle', 'lifecyclestage', 'hs_lead_status'];
const PORTAL = 62515;
const T0 = Date.UTC(2026, 10, 1);

export interface MirrorBenchOptions {
  databaseUrl?: string;
  /** Timed batches per method. */
  batches?: number;
}

/**
 * A poll page: 100 snapshots of distinct contacts, read without per-property timestamps (as
 * search returns them). `changed` properties per contact have a new value this round, the rest
 * are as before, as on a real account where an edit touches one or two fields.
 */
function pollPage(round: number, page: number, changed: number): Observation[] {
  const version = T0 + round * 1_000;
  return Array.from({ length: BATCH }, (_, i) => {
    const objectId = String(((page * BATCH + i) % OBJECTS) + 1);
    return {
      kind: 'snapshot' as const,
      ref: { portalId: PORTAL, objectType: 'contacts', objectId },
      version,
      via: 'poll' as const,
      seenAt: new Date(version + 5_000),
      properties: Object.fromEntries(
        PROPERTIES.map((p, k) => {
          // Property k last changed in the latest round r ≤ round with (r + k) % 10 < changed.
          let r = round;
          while (r > 0 && (r + k) % PROPERTIES.length >= changed) r--;
          return [p, `${p}-${objectId}-${r}`];
        }),
      ),
    };
  });
}

/** The properties of a page's contacts that have a new value in `round` (one ledger row each). */
function changedProperties(round: number, changed: number): string[] {
  return PROPERTIES.filter((_, k) => (round + k) % PROPERTIES.length < changed);
}

/**
 * The same rows the mirror writes for a page, by a plain writer in one statement: the objects
 * upserted (properties and versions) and a ledger row per changed property, no lock, no rule.
 * Rows travel as array parameters (unnest), as the mirror's own statements send them.
 */
async function plainWrite(db: Kysely<Database>, page: Observation[], round: number, changed: number, now: Date): Promise<void> {
  const properties = changedProperties(round, changed);
  const ledger = page.flatMap((obs) => properties.map((property) => ({ obs, property })));
  const objects = page.map((obs) => {
    const values = obs.kind === 'snapshot' ? obs.properties : {};
    return { obs, values, versions: Object.fromEntries(Object.keys(values).map((p) => [p, obs.version])) };
  });
  await sql`
    with ledger as (
      insert into change_ledger (portal_id, object_type, object_id, property, occurred_at, first_seen_via, first_seen_at, seen_by_poll_at)
      select l.portal_id, l.object_type, l.object_id, l.property, l.occurred_at, l.via, l.seen_at, l.seen_at
      from unnest(${arrayLiteral(ledger.map((l) => l.obs.ref.portalId))}::int8[], ${arrayLiteral(ledger.map((l) => l.obs.ref.objectType))}::text[],
        ${arrayLiteral(ledger.map((l) => l.obs.ref.objectId))}::text[], ${arrayLiteral(ledger.map((l) => l.property))}::text[],
        ${arrayLiteral(ledger.map((l) => new Date(l.obs.version).toISOString()))}::timestamptz[], ${arrayLiteral(ledger.map((l) => l.obs.via))}::text[],
        ${arrayLiteral(ledger.map((l) => l.obs.seenAt.toISOString()))}::timestamptz[])
        as l(portal_id, object_type, object_id, property, occurred_at, via, seen_at)
      on conflict do nothing
    )
    insert into hubspot_objects as o (portal_id, object_type, object_id, properties, property_versions, lifecycle, lifecycle_at,
      hs_updated_at, first_seen_via, first_seen_at, updated_at)
    select j.portal_id, j.object_type, j.object_id, j.properties, j.property_versions, 'live', j.version, j.version, j.via, j.seen_at, ${now}::timestamptz
    from unnest(${arrayLiteral(objects.map((o) => o.obs.ref.portalId))}::int8[], ${arrayLiteral(objects.map((o) => o.obs.ref.objectType))}::text[],
      ${arrayLiteral(objects.map((o) => o.obs.ref.objectId))}::text[], ${arrayLiteral(objects.map((o) => JSON.stringify(o.values)))}::jsonb[],
      ${arrayLiteral(objects.map((o) => JSON.stringify(o.versions)))}::jsonb[], ${arrayLiteral(objects.map((o) => new Date(o.obs.version).toISOString()))}::timestamptz[],
      ${arrayLiteral(objects.map((o) => o.obs.via))}::text[], ${arrayLiteral(objects.map((o) => o.obs.seenAt.toISOString()))}::timestamptz[])
      as j(portal_id, object_type, object_id, properties, property_versions, version, via, seen_at)
    on conflict (portal_id, object_type, object_id) do update set
      properties = excluded.properties, property_versions = excluded.property_versions, lifecycle = excluded.lifecycle,
      lifecycle_at = excluded.lifecycle_at, hs_updated_at = excluded.hs_updated_at, updated_at = excluded.updated_at`.execute(db);
}

interface Rates {
  ruleRate: number;
  plainRate: number;
  ruleMs: number;
  plainMs: number;
}

/** Rounds per page: each visit of a page is one round newer than the last, whoever writes it. */
const rounds = new Map<number, number>();
const nextRound = (page: number) => {
  const round = (rounds.get(page) ?? 0) + 1;
  rounds.set(page, round);
  return round;
};

async function measure(db: Kysely<Database>, changed: number, batches: number, analyse: boolean): Promise<Rates> {
  const pages = OBJECTS / BATCH;
  const plain = (page: number) => {
    const round = nextRound(page);
    return plainWrite(db, pollPage(round, page, changed), round, changed, new Date());
  };
  // Bring every row to the current round, and warm both paths up, so timed batches update existing rows.
  for (let page = 0; page < pages; page++) await db.transaction().execute((trx) => applyObservations(trx, pollPage(nextRound(page), page, changed)));
  for (let page = 0; page < pages; page++) await plain(page);
  // Without ANALYZE the tables have never had statistics (a fresh database where autovacuum is
  // off or has not come by): the statements must plan well either way.
  if (analyse) await analyzeMirror(db);
  let ruleMs = 0;
  let plainMs = 0;
  // Alternate the two so drift (autovacuum, caches) hits both alike; each batch is a newer round.
  for (let b = 0; b < batches; b++) {
    const page = b % pages;
    const ours = pollPage(nextRound(page), page, changed);
    let started = performance.now();
    await db.transaction().execute((trx) => applyObservations(trx, ours));
    ruleMs += performance.now() - started;
    started = performance.now();
    await plain(page);
    plainMs += performance.now() - started;
  }
  return {
    ruleRate: (batches * BATCH * 1000) / ruleMs,
    plainRate: (batches * BATCH * 1000) / plainMs,
    ruleMs: ruleMs / batches,
    plainMs: plainMs / batches,
  };
}

/** Runs the benchmark and returns the lines to print. */
export async function run(options: MirrorBenchOptions = {}): Promise<string[]> {
  const adminUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? '';
  const url = adminUrl ? await createServerDatabase(adminUrl) : '';
  const handle = await openDatabase(testDatabaseConfig(url));
  try {
    const { db } = handle;
    await migrateToLatest(db);
    const batches = options.batches ?? (url ? 200 : 100);
    const lines = [
      `database: ${url ? 'postgres' : 'embedded PGlite'}; batches of ${BATCH} snapshots × ${PROPERTIES.length} properties over ${OBJECTS} contacts, ${batches} timed per method`,
    ];
    // The fresh case first: nothing has analysed the tables yet.
    for (const [changed, analyse, label] of [
      [1, false, 'typical, fresh database (never analysed): 1 property changed per contact'],
      [1, true, 'typical, after ANALYZE: 1 property changed per contact'],
      [PROPERTIES.length, true, `worst case, after ANALYZE: all ${PROPERTIES.length} properties changed (10 ledger rows per observation)`],
    ] as const) {
      const r = await measure(db, changed, batches, analyse);
      lines.push(
        `${label}: applyObservations ${r.ruleRate.toFixed(0)} obs/s (${r.ruleMs.toFixed(2)} ms/batch), ` +
          `plain write of the same object and ledger rows ${r.plainRate.toFixed(0)} objects/s (${r.plainMs.toFixed(2)} ms/batch), ` +
          `ratio ${(r.ruleRate / r.plainRate).toFixed(2)} (target ≥ 0.5; load ${os.loadavg()[0]!.toFixed(1)})`,
      );
    }
    return lines;
  } finally {
    await handle.close();
    if (url) await dropServerDatabase(adminUrl, url);
  }
}


if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const line of await run()) console.log(line);
}
