/**
 * One history, three witnesses: push webhooks (Webhooks API events), the journal (journal events)
 * and search polling (reads with per-property timestamps), each delivering changes in whatever
 * order and as often as it likes, through the real parsers, inbox and processor. Whatever the
 * order and the duplicates, the mirror ends as the history says, and the ledger holds one row per
 * change with each path's first sight of it.
 */
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { journalIncoming } from '../../../src/webhooks/journal-events.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import type { Observation, Via } from '../../../src/mirror/observation.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { parseHubSpotBatch } from '../../../src/webhooks/hubspot-events.ts';
import { foldDuplicates, type ParsedBatch } from '../../../src/webhooks/inbox.ts';
import { storeWebhookBatch } from '../../../src/webhooks/inbox-store.ts';
import { processWebhookBatch } from '../../../src/webhooks/processor.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

const T0 = Date.UTC(2026, 11, 6, 9);
const IDS = ['11', '12', '13'];
const PROPERTIES = ['email', 'firstname', 'city'];
const VALUES = ['a', 'b', 'c', 'd'];

type Change =
  | { kind: 'create'; id: string; at: number; properties: Record<string, string> }
  | { kind: 'update'; id: string; at: number; properties: Record<string, string> }
  | { kind: 'delete' | 'restore'; id: string; at: number };

/** A valid history: creations first for each id, updates and deletions of live ones, restores of deleted ones; one change a second. */
const historyArb = fc
  .array(fc.record({ pick: fc.nat(), kind: fc.constantFrom('update', 'update', 'update', 'delete', 'restore'), props: fc.dictionary(fc.constantFrom(...PROPERTIES), fc.constantFrom(...VALUES), { minKeys: 1, maxKeys: 3 }) }), { minLength: 1, maxLength: 12 })
  .map((steps) => {
    const changes: Change[] = IDS.map((id, i) => ({ kind: 'create', id, at: T0 + i * 1000, properties: { email: `${id}@x`, firstname: 'a' } }));
    const live = new Set(IDS);
    for (const step of steps) {
      const at = T0 + changes.length * 1000;
      const id = IDS[step.pick % IDS.length]!;
      if (step.kind === 'update' && live.has(id)) changes.push({ kind: 'update', id, at, properties: step.props });
      else if (step.kind === 'delete' && live.has(id)) changes.push({ kind: 'delete', id, at }), live.delete(id);
      else if (step.kind === 'restore' && !live.has(id)) changes.push({ kind: 'restore', id, at }), live.add(id);
    }
    return changes;
  });

/** What a read of the history after change `index` shows of each live object: values with their timestamps. */
function stateAfter(changes: readonly Change[], index: number) {
  const objects = new Map<string, { properties: Record<string, string>; versions: Record<string, number>; createdAt: number; live: boolean; updatedAt: number }>();
  for (const c of changes.slice(0, index + 1)) {
    const o = objects.get(c.id) ?? { properties: {}, versions: {}, createdAt: c.at, live: true, updatedAt: c.at };
    objects.set(c.id, o);
    o.updatedAt = c.at;
    if (c.kind === 'create' || c.kind === 'update') for (const [p, v] of Object.entries(c.properties)) (o.properties[p] = v), (o.versions[p] = c.at);
    else o.live = c.kind === 'restore';
  }
  return objects;
}

/** A delivery: a path brings one change (push, journal) or one read of a state (poll) at `seenAt`. */
interface Delivery {
  path: 'webhook' | 'journal' | 'poll';
  index: number;
  seenAt: number;
}

/** Every change delivered by each path at least once, some twice or more, in an arbitrary order of arrival (seen times ascending). */
function deliveriesArb(changes: readonly Change[]): fc.Arbitrary<Delivery[]> {
  const n = changes.length;
  const extra = fc.array(fc.record({ path: fc.constantFrom<Delivery['path']>('webhook', 'journal', 'poll'), index: fc.nat(n - 1) }), { maxLength: n * 2 });
  return fc.tuple(extra, fc.array(fc.nat(), { minLength: n * 5, maxLength: n * 5 })).map(([more, keys]) => {
    const all = [...(['webhook', 'journal', 'poll'] as const).flatMap((path) => changes.map((_, index) => ({ path, index }))), ...more];
    // Arrival order is a shuffle of the deliveries; each arrives 100 ms after the one before, seconds after the history began.
    const shuffled = all.map((d, i) => ({ d, key: keys[i % keys.length]! * 1000 + i })).sort((a, b) => a.key - b.key).map(({ d }) => d);
    return shuffled.map((d, i) => ({ ...d, seenAt: T0 + 60_000 + i * 100 }));
  });
}

/** The Webhooks-API events of a change (as HubSpot sends them: a creation also sends its property changes). */
function pushEvents(portalId: number, c: Change, attempt: number): unknown[] {
  const base = { portalId, appId: 1, occurredAt: c.at, objectId: Number(c.id), attemptNumber: attempt, changeSource: 'CRM' };
  // Identity is (portal, subscription, eventId, object, time, type): derive eventId from the change, so a duplicate is the same event.
  const id = (n: number) => c.at * 10 + n;
  const events: unknown[] = [];
  if (c.kind === 'create') events.push({ ...base, eventId: id(0), subscriptionId: 1, subscriptionType: 'contact.creation' });
  if (c.kind === 'delete') events.push({ ...base, eventId: id(0), subscriptionId: 2, subscriptionType: 'contact.deletion' });
  if (c.kind === 'restore') events.push({ ...base, eventId: id(0), subscriptionId: 3, subscriptionType: 'contact.restore' });
  if (c.kind === 'create' || c.kind === 'update') {
    Object.entries(c.properties).forEach(([propertyName, propertyValue], i) =>
      events.push({ ...base, eventId: id(i + 1), subscriptionId: 10 + PROPERTIES.indexOf(propertyName), subscriptionType: 'contact.propertyChange', propertyName, propertyValue }),
    );
  }
  return events;
}

const JOURNAL_ACTION = { create: 'CREATE', update: 'UPDATE', delete: 'DELETE', restore: 'RESTORE' } as const;

function journalEvent(portalId: number, c: Change): unknown {
  return {
    type: 'crmObject', action: JOURNAL_ACTION[c.kind], portalId, occurredAt: new Date(c.at).toISOString(), objectTypeId: '0-1', objectId: Number(c.id),
    ...(c.kind === 'create' || c.kind === 'update' ? { propertyChanges: c.properties } : {}),
  };
}

/** The read of the state after change `index`, as a poll would observe it. */
function pollObservations(portalId: number, changes: readonly Change[], index: number, seenAt: Date): Observation[] {
  return [...stateAfter(changes, index)].filter(([, o]) => o.live).map(([id, o]) => ({
    kind: 'snapshot', ref: { portalId, objectType: 'contacts', objectId: id }, version: o.updatedAt, via: 'poll', seenAt,
    properties: { ...o.properties }, propertyVersions: { ...o.versions }, createdAt: o.createdAt,
  }));
}

const config = configSchema.parse({}).webhooks;
const log = pino({ level: 'silent' });
let nextPortal = 7_000;

describe(`three paths on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('the same history through push, journal and search, in any order and with duplicates: the same mirror, one ledger row per change with each path\'s first sight', async () => {
    await fc.assert(
      fc.asyncProperty(
        historyArb.chain((changes) => fc.tuple(fc.constant(changes), deliveriesArb(changes), fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 200, maxLength: 200 }))),
        async ([changes, deliveries, chunks]) => {
          const portalId = nextPortal++;
          const { db } = testDb;
          const attempts = new Map<string, number>();
          // Arrivals in chunks; the processor runs between them, as it would.
          for (let i = 0, c = 0; i < deliveries.length; i += chunks[c++ % chunks.length]!) {
            for (const d of deliveries.slice(i, i + chunks[c % chunks.length]!)) {
              const change = changes[d.index]!;
              if (d.path === 'poll') {
                const observations = pollObservations(portalId, changes, d.index, new Date(d.seenAt));
                if (observations.length > 0) await db.transaction().execute((trx) => applyObservations(trx, observations, { now: new Date(d.seenAt) }));
                continue;
              }
              let batch: ParsedBatch;
              if (d.path === 'webhook') {
                const key = `${d.index}`;
                attempts.set(key, (attempts.get(key) ?? -1) + 1);
                batch = parseHubSpotBatch(pushEvents(portalId, change, attempts.get(key)!));
              } else {
                const stored = journalIncoming(journalEvent(portalId, change), `entry-${d.seenAt}`);
                batch = 'event' in stored ? { events: [stored.event], quarantined: [] } : { events: [], quarantined: [stored.quarantined] };
              }
              expect(batch.quarantined).toEqual([]);
              await storeWebhookBatch(db, foldDuplicates(batch).batch, new Date(d.seenAt));
            }
            await processWebhookBatch({ db, log, metrics: new Metrics(), config, now: () => new Date(T0 + 120_000) });
          }
          for (let r = await processWebhookBatch({ db, log, metrics: new Metrics(), config }); r.claimed > 0; r = await processWebhookBatch({ db, log, metrics: new Metrics(), config })) expect(r.retrying + r.failed).toBe(0);

          // The mirror is the history's end.
          const final = stateAfter(changes, changes.length - 1);
          const rows = await db.selectFrom('hubspot_objects').selectAll().where('portal_id', '=', portalId).orderBy('object_id').execute();
          expect(rows.map((r) => [r.object_id, r.archived, r.properties])).toEqual([...final].sort().map(([id, o]) => [id, !o.live, o.properties]));

          // The ledger: one row per change the paths carried, each path's earliest sight, the first path.
          const expected = new Map<string, Partial<Record<Via, number>>>();
          const see = (id: string, property: string, at: number, via: Via, seenAt: number) => {
            const key = `${id}|${property}|${at}`;
            const row = expected.get(key) ?? {};
            row[via] = Math.min(row[via] ?? Infinity, seenAt);
            expected.set(key, row);
          };
          for (const d of deliveries) {
            const c = changes[d.index]!;
            if (d.path === 'poll') {
              for (const [id, o] of stateAfter(changes, d.index)) {
                if (!o.live) continue;
                see(id, '@created', o.createdAt, 'poll', d.seenAt);
                for (const [p, at] of Object.entries(o.versions)) see(id, p, at, 'poll', d.seenAt);
              }
              continue;
            }
            const marker = { create: '@created', delete: '@deleted', restore: '@restored', update: undefined }[c.kind];
            if (marker) see(c.id, marker, c.at, d.path, d.seenAt);
            if (c.kind === 'create' || c.kind === 'update') for (const p of Object.keys(c.properties)) see(c.id, p, c.at, d.path, d.seenAt);
          }
          const ledger = await db.selectFrom('change_ledger').selectAll().where('portal_id', '=', portalId).execute();
          const actual = new Map(
            ledger.map((r) => [
              `${r.object_id}|${r.property}|${r.occurred_at.getTime()}`,
              { first: r.first_seen_via, webhook: r.seen_by_webhook_at?.getTime(), journal: r.seen_by_journal_at?.getTime(), poll: r.seen_by_poll_at?.getTime() },
            ]),
          );
          expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
          for (const [key, seen] of expected) {
            const first = (Object.entries(seen) as [Via, number][]).sort(([va, a], [vb, b]) => a - b || (va < vb ? -1 : 1))[0]![0];
            expect([key, actual.get(key)]).toEqual([key, { first, webhook: seen.webhook, journal: seen.journal, poll: seen.poll }]);
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 300_000);
});
