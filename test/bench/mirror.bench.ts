/**
 * Mirror write throughput: observations/s through `applyObservations` (lock, rule, write, ledger)
 * in batches of 100, against the same rows written by one plain multi-row
 * INSERT … ON CONFLICT DO UPDATE per batch. The ratio is the price of the mirror rule and the
 * ledger; the target is ≥ 0.5.
 *
 * `npm run bench mirror`, or standalone: `node test/bench/mirror.bench.ts`.
 * Real Postgres when DATABASE_URL is set (in a scratch database), embedded PGlite otherwise.
 */
import { pathToFileURL } from 'node:url';
import type { Kysely } from 'kysely';
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

/** The same rows a plain writer would produce for a page: properties and versions, no rule, no ledger. */
async function plainUpsert(db: Kysely<Database>, page: Observation[], now: Date): Promise<void> {
  await db
    .insertInto('hubspot_objects')
    .values(
      page.map((obs) => {
        const properties = obs.kind === 'snapshot' ? obs.properties : {};
        return {
          portal_id: obs.ref.portalId,
          object_type: obs.ref.objectType,
          object_id: obs.ref.objectId,
          properties: JSON.stringify(properties),
          property_versions: JSON.stringify(Object.fromEntries(Object.keys(properties).map((p) => [p, obs.version]))),
          archived: false,
          lifecycle: 'live' as const,
          lifecycle_at: new Date(obs.version),
          hs_updated_at: new Date(obs.version),
          first_seen_via: obs.via,
          first_seen_at: obs.seenAt,
          updated_at: now,
        };
      }),
    )
    .onConflict((oc) =>
      oc.columns(['portal_id', 'object_type', 'object_id']).doUpdateSet((eb) => ({
        properties: eb.ref('excluded.properties'),
        property_versions: eb.ref('excluded.property_versions'),
        lifecycle: eb.ref('excluded.lifecycle'),
        lifecycle_at: eb.ref('excluded.lifecycle_at'),
        hs_updated_at: eb.ref('excluded.hs_updated_at'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
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

async function measure(db: Kysely<Database>, changed: number, batches: number): Promise<Rates> {
  const pages = OBJECTS / BATCH;
  // Bring every row to the current round, and warm both paths up, so timed batches update existing rows.
  for (let page = 0; page < pages; page++) await db.transaction().execute((trx) => applyObservations(trx, pollPage(nextRound(page), page, changed)));
  for (let page = 0; page < pages; page++) await plainUpsert(db, pollPage(nextRound(page), page, changed), new Date());
  // Planner statistics as on a live database (autovacuum's job, which a load this fast outruns):
  // without them Postgres may probe the mirror by a non-unique index and filter hundreds of rows.
  await analyzeMirror(db);
  let ruleMs = 0;
  let plainMs = 0;
  // Alternate the two so drift (autovacuum, caches) hits both alike; each batch is a newer round.
  for (let b = 0; b < batches; b++) {
    const page = b % pages;
    const ours = pollPage(nextRound(page), page, changed);
    let started = performance.now();
    await db.transaction().execute((trx) => applyObservations(trx, ours));
    ruleMs += performance.now() - started;
    const theirs = pollPage(nextRound(page), page, changed);
    started = performance.now();
    await plainUpsert(db, theirs, new Date());
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
    for (const [changed, label] of [
      [1, 'typical: 1 property changed per contact'],
      [PROPERTIES.length, `worst case: all ${PROPERTIES.length} properties changed (10 ledger rows per observation)`],
    ] as const) {
      const r = await measure(db, changed, batches);
      lines.push(
        `${label}: applyObservations ${r.ruleRate.toFixed(0)} obs/s (${r.ruleMs.toFixed(2)} ms/batch), ` +
          `plain upsert ${r.plainRate.toFixed(0)} rows/s (${r.plainMs.toFixed(2)} ms/batch), ratio ${(r.ruleRate / r.plainRate).toFixed(2)} (target ≥ 0.5)`,
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
