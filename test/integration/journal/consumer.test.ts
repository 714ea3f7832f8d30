import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntryRef, JournalApi } from '../../../src/journal/api.ts';
import { consumeStep, createJournalConsumer, type ConsumerDeps } from '../../../src/journal/consumer.ts';
import { getPosition, recentGaps, recordGap } from '../../../src/journal/consumer-store.ts';
import { syncSubscriptions } from '../../../src/journal/sync.ts';
import { journalApi, journalTokens } from '../../../src/journal/service.ts';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { createTestDb, serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { drainer, journalConfig, log, mismatches, PORTAL, startJournalSandbox, TIME_SCALE } from './harness.ts';

const testDb = useTestDb();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startJournalSandbox({ seed: 3 });
});

afterAll(async () => {
  await sandbox?.close();
});

describe(`the journal consumer on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('alone (no push webhooks, no polling) brings every change into the mirror: values, creations, deletions, restores, merges, privacy deletions', async () => {
    const config = journalConfig(sandbox);
    const api = journalApi(config, config.hubspot.journal!, journalTokens(config, config.hubspot.journal!));
    const report = await syncSubscriptions({ db: testDb.db, api, log, config: { jobs: config.jobs, journal: config.hubspot.journal! } });
    expect(report).toMatchObject({ created: 7, failures: [], conflicts: [] });
    // Everything happens after the subscriptions exist: the journal has all of it. One change per
    // millisecond: two changes of one property in the same millisecond are a tie no path can order.
    const ops = sandbox.hubspot.runStream({ seed: 11, count: 400, portalId: PORTAL, startAt: Date.now() - 400, stepMs: 1 });
    expect(new Set(ops.map((op) => op.kind))).toEqual(new Set(['create', 'update', 'delete', 'restore', 'merge', 'privacyDelete', 'associate', 'dissociate']));
    await sandbox.hubspot.journal.idle();
    const d = drainer(testDb.db, config, TIME_SCALE);
    try {
      const read = await d.drain();
      expect(read.entries).toBeGreaterThan(0);
      const convergence = await mismatches(testDb.db, sandbox, config.jobs);
      expect(convergence.mismatches).toEqual([]);
      expect(convergence.checked).toBeGreaterThan(50);
      // Every change the ledger holds was seen by the journal, and by no other path.
      const ledger = await testDb.db.selectFrom('change_ledger').select(['first_seen_via', 'seen_by_webhook_at', 'seen_by_poll_at']).where('portal_id', '=', PORTAL).execute();
      expect(new Set(ledger.map((r) => r.first_seen_via))).toEqual(new Set(['journal']));
      expect(ledger.every((r) => r.seen_by_webhook_at === null && r.seen_by_poll_at === null)).toBe(true);
      // Caught up: a second drain reads nothing.
      expect(await d.drain()).toEqual({ entries: 0, events: 0 });
    } finally {
      d.close();
    }
  });
  it('takes every form HubSpot may answer in, and every delivery fault, and still applies each change once', async () => {
    const faulty = await startJournalSandbox({
      seed: 5,
      journal: {
        maxEventsPerEntry: 7,
        variants: { caughtUp: 'empty', occurredAt: 'epoch', associationFields: 'associated' },
        faults: { expiredUrlRate: 0.3, duplicateRate: 0.2, slowFileRate: 0.2, slowFileMs: 3_000 },
      },
    });
    const db = await createTestDb();
    // The account's local journal this time.
    const config = journalConfig(faulty, { journal: { batchSize: 5, variant: 'local' } });
    const d = drainer(db.db, config, TIME_SCALE);
    try {
      const api = journalApi(config, config.hubspot.journal!, journalTokens(config, config.hubspot.journal!));
      await syncSubscriptions({ db: db.db, api, log, config: { jobs: config.jobs, journal: config.hubspot.journal! } });
      faulty.hubspot.runStream({ seed: 12, count: 150, portalId: PORTAL, startAt: Date.now() - 300, stepMs: 1 });
      await faulty.hubspot.journal.idle();
      // Mid-way: the token is revoked (a 401), the API fails twice and rate-limits once.
      await d.drain();
      faulty.hubspot.journal.revokeTokens();
      faulty.hubspot.journal.failNext(503, 2);
      faulty.hubspot.journal.failNext(429, 1);
      faulty.hubspot.runStream({ seed: 13, count: 150, portalId: PORTAL, startAt: Date.now() - 100, stepMs: 1 });
      await faulty.hubspot.journal.idle();
      await d.drain();
      const result = await mismatches(db.db, faulty, config.jobs);
      expect(result.mismatches).toEqual([]);
      expect(result.checked).toBeGreaterThan(30);
      // Copies across files were folded into the row of their first delivery.
      const rows = await db.db.selectFrom('webhook_events').select(['dedup_key', 'deliveries', 'processed_at']).where('source', '=', 'journal').execute();
      expect(new Set(rows.map((r) => r.dedup_key)).size).toBe(rows.length);
      expect(rows.some((r) => r.deliveries > 1)).toBe(true);
      expect(rows.every((r) => r.processed_at !== null)).toBe(true);
      const totals = d.metrics.snapshot().counters;
      expect(totals[`journal.urls_renewed{journal=portal:${PORTAL}}`]).toBeGreaterThan(0);
      expect(totals[`journal.events.duplicate{journal=portal:${PORTAL}}`]).toBeGreaterThan(0);
    } finally {
      d.close();
      await faulty.close();
      await db.close();
    }
  });
  it('reads a trickle once a poll interval: a short batch is the end for now, not a reason to ask again at once', async () => {
    const db = await createTestDb();
    let reads = 0;
    let offset = 0;
    const entry = (n: number): EntryRef => ({ offset: `offset-${n}`, url: `https://files.example/${n}`, expiresAt: Number.POSITIVE_INFINITY });
    // A journal that always has one more entry: what a busy portal looks like.
    const api: JournalApi = {
      first: async () => ({ ok: true, value: entry(0) }),
      next: async () => {
        reads++;
        return { ok: true, value: [entry(++offset)] };
      },
      read: async () => ({ ok: true, value: { found: [], missing: [] } }),
      download: async () => ({ ok: true, value: { offset: undefined, events: [], publishedAt: Date.now() } }),
      request: async () => ({ ok: true, value: undefined }),
    };
    const consumer = createJournalConsumer({
      db: db.db, log, config: { start: 'earliest', pollIntervalMs: 200, batchSize: 100, downloadConcurrency: 1, leaseSeconds: 5 },
      target: { key: 'global' }, api, jobs: [], worker: 'trickle',
    });
    try {
      await consumer.start();
      await new Promise((r) => setTimeout(r, 1000));
      await consumer.stop();
      // About five reads in a second at 200 ms; asking again at once would be hundreds.
      expect(reads).toBeGreaterThanOrEqual(2);
      expect(reads).toBeLessThanOrEqual(8);
    } finally {
      await db.close();
    }
  });

  it('a consumer that lost the journal while it downloaded commits nothing: the offset never goes back, nothing is lost, no gap is recorded over a newer position', async () => {
    const db = await createTestDb();
    // A journal of 30 entries, one contact update each.
    const entry = (n: number): EntryRef => ({ offset: `offset-${n}`, url: `https://files.example/${n}`, expiresAt: Number.POSITIVE_INFINITY });
    const number = (offset: string) => Number(offset.slice('offset-'.length));
    const api: JournalApi = {
      first: async () => ({ ok: true, value: entry(0) }),
      next: async (offset, count) => {
        return { ok: true, value: Array.from({ length: Math.max(0, Math.min(count, 29 - number(offset))) }, (_, i) => entry(number(offset) + 1 + i)) };
      },
      read: async () => ({ ok: true, value: { found: [], missing: [] } }),
      download: async (ref) => ({
        ok: true,
        value: { offset: ref.offset, publishedAt: Date.now(), events: [{ action: 'UPDATE', portalId: PORTAL, objectTypeId: '0-1', objectId: String(1000 + number(ref.offset)), occurredAt: 1_700_000_000_000 + number(ref.offset), propertyChanges: { firstname: `n${number(ref.offset)}` } }] },
      }),
      request: async () => ({ ok: true, value: undefined }),
    };
    let release!: () => void;
    let downloaded!: () => void;
    const paused = new Promise<void>((r) => (downloaded = r));
    const deps = (worker: string, onDownloaded?: ConsumerDeps['onDownloaded']): ConsumerDeps => ({
      db: db.db, log, api, jobs: [], worker, target: { key: 'global' },
      config: { start: 'earliest', pollIntervalMs: 20, batchSize: 10, downloadConcurrency: 2, leaseSeconds: 5 },
      ...(onDownloaded ? { onDownloaded } : {}),
    });
    const stale = deps('stale', async () => {
      downloaded();
      await new Promise<void>((r) => (release = r));
    });
    const holder = deps('holder');
    const position = async () => (await getPosition(db.db, 'global'))?.offset;
    try {
      expect(await consumeStep(holder)).toMatchObject({ kind: 'read', entries: 1 });
      // The stale consumer reads entries 1-10 and stops before its commit (its lease ran out) ...
      const late = consumeStep(stale);
      await paused;
      // ... while the new holder reads everything.
      for (let step = await consumeStep(holder); step.kind !== 'caught-up'; step = await consumeStep(holder)) expect(step.kind).toBe('read');
      expect(await position()).toBe('offset-29');
      release();
      expect(await late).toEqual({ kind: 'superseded' });
      expect(await position()).toBe('offset-29');
      expect(await consumeStep(holder)).toEqual({ kind: 'caught-up' });
      const events = await db.db.selectFrom('webhook_events').select(['object_id', 'deliveries']).where('source', '=', 'journal').execute();
      expect(events.map((e) => Number(e.object_id)).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => 1000 + i));
      expect(events.every((e) => e.deliveries === 1)).toBe(true);

      // A stale consumer whose old offset expired records no gap over the holder's position.
      const now = new Date();
      expect(await recordGap(db.db, { journal: 'global', lostOffset: 'offset-0', since: now, until: now, detectedAt: now, jobs: [] })).toBe(false);
      expect(await recentGaps(db.db)).toEqual([]);
      expect(await position()).toBe('offset-29');
    } finally {
      await db.close();
    }
  });
});
