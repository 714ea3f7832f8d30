import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  announceStoredEvents,
  claimWebhookEvents,
  INBOX_CHANNEL,
  failAbandonedWebhookEvents,
  lockDueWebhookEvents,
  markWebhookEventsFailed,
  retryFailedWebhookEvents,
  tidyWebhookQueue,
  webhookStatus,
} from '../../../src/webhooks/inbox-store.ts';
import { loadPayload } from '../../../src/webhooks/flood.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { processWebhookBatch, type ProcessorDeps } from '../../../src/webhooks/processor.ts';
import { createProcessorService } from '../../../src/webhooks/service.ts';
import { rosterPlace } from '../../../src/processes/store.ts';
import { createTestDb, serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger, hubspotEvent, PORTAL, storeHubSpotEvents, testConfig, waitFor } from './helpers.ts';

const testDb = useTestDb();
const { log } = captureLogger();
const T0 = new Date('2026-11-22T10:00:00.000Z');
const MAX_ATTEMPTS = 3;

beforeEach(async () => {
  await sql`truncate webhook_events, webhook_pending, webhook_quarantine, hubspot_objects, change_ledger, hubsync_processes`.execute(testDb.db);
});

async function store(events: Record<string, unknown>[], at = T0): Promise<void> {
  await storeHubSpotEvents(testDb.db, events, at);
}

function deps(now: Date, processBatchSize: number): ProcessorDeps {
  return { db: testDb.db, log, metrics: new Metrics(), config: { ...testConfig().webhooks, processBatchSize, maxAttempts: MAX_ATTEMPTS }, now: () => now, random: () => 1 };
}

/** Ids by object id, for readable assertions. */
async function idOf(objectId: string): Promise<number> {
  return (await testDb.db.selectFrom('webhook_events').select('id').where('object_id', '=', objectId).executeTakeFirstOrThrow()).id;
}

async function queued(): Promise<string[]> {
  const { rows } = await sql<{ object_id: string | null }>`
    select e.object_id from webhook_pending p left join webhook_events e on e.id = p.id order by p.id`.execute(testDb.db);
  return rows.map((r) => r.object_id ?? '(gone)');
}

/** The queue's contract: exactly the events neither processed nor given up on, each with its object's share. */
async function expectQueueTrue(): Promise<void> {
  const waiting = await testDb.db.selectFrom('webhook_events').select('object_id').where('processed_at', 'is', null).where('failed_at', 'is', null).orderBy('id').execute();
  expect(await queued()).toEqual(waiting.map((r) => r.object_id));
  const { rows } = await sql<{ id: number }>`
    select p.id from webhook_pending p join webhook_events e on e.id = p.id
    where p.share <> webhook_object_share(e.portal_id, e.object_type, e.object_id)`.execute(testDb.db);
  expect(rows).toEqual([]);
}

/** The queued events' object ids in lane `lane` of `lanes`'s share, oldest first. */
async function shareOf(lane: number, lanes: number): Promise<string[]> {
  const { rows } = await sql<{ object_id: string }>`
    select e.object_id from webhook_pending p join webhook_events e on e.id = p.id where p.share % ${lanes}::int = ${lane}::int order by p.id`.execute(testDb.db);
  return rows.map((r) => r.object_id);
}

describe('the processing queue (webhook_pending)', () => {
  it('holds exactly the events neither processed nor given up on, through every way an event goes', async () => {
    const first = hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 1 });
    // One request each, so ids follow the object ids.
    for (const event of [first, ...[2, 3, 4].map((objectId) => hubspotEvent({ subscriptionType: 'contact.deletion', objectId }))]) await store([event]);
    // A second delivery of a stored event changes its evidence, not the queue.
    await store([{ ...first, attemptNumber: 1 }]);
    expect(await queued()).toEqual(['1', '2', '3', '4']);

    // Processed in one transaction: out of the queue.
    expect(await processWebhookBatch(deps(T0, 2))).toMatchObject({ claimed: 2, processed: 2 });
    expect(await queued()).toEqual(['3', '4']);

    // A failure to retry later stays; one given up on leaves.
    const later = new Date(T0.getTime() + 60_000);
    await markWebhookEventsFailed(testDb.db, [
      { id: await idOf('3'), error: 'try again', retryAt: later },
      { id: await idOf('4'), error: 'cannot be processed', retryAt: null },
    ], T0);
    await expectQueueTrue();
    expect(await queued()).toEqual(['3']);

    // Claimed (leased) until no attempt is left, then abandoned: it leaves the queue too.
    let now = later;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const leaseUntil = new Date(now.getTime() + 1_000);
      expect(await claimWebhookEvents(testDb.db, { now, leaseUntil, limit: 10, maxAttempts: MAX_ATTEMPTS })).toHaveLength(1);
      now = leaseUntil;
    }
    expect(await claimWebhookEvents(testDb.db, { now, leaseUntil: now, limit: 10, maxAttempts: MAX_ATTEMPTS })).toEqual([]);
    expect(await failAbandonedWebhookEvents(testDb.db, now, MAX_ATTEMPTS)).toBe(1);
    await expectQueueTrue();
    expect(await queued()).toEqual([]);
    expect(await webhookStatus(testDb.db, now)).toMatchObject({ backlog: 0, failed: 2 });

    // An operator's retry puts both back; the next batch processes them.
    expect(await retryFailedWebhookEvents(testDb.db, now)).toBe(2);
    expect(await queued()).toEqual(['3', '4']);
    expect(await webhookStatus(testDb.db, now)).toMatchObject({ backlog: 2, failed: 0, retrying: 2 });
    expect(await processWebhookBatch(deps(now, 10))).toMatchObject({ claimed: 2, processed: 2 });
    await expectQueueTrue();
    expect(await webhookStatus(testDb.db, now)).toMatchObject({ backlog: 0, failed: 0, oldestUnprocessedSeconds: null });
  });

  it('queues an event whatever inserts it (a receiver of an earlier release during a deploy, an operator), and not a duplicate delivery', async () => {
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 1 })]);
    // As a release before the queue stored events: a plain insert into the inbox.
    await sql`insert into webhook_events (source, dedup_key, portal_id, subscription_type, object_type, object_id, payload, received_at, last_received_at, next_attempt_at)
      values ('hubspot', 'by-hand-1', ${PORTAL}, 'contact.deletion', 'contacts', '2',
        ${JSON.stringify(hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 2 }))}::jsonb, ${T0}, ${T0}, ${T0}),
      ('hubspot', 'by-hand-2', ${PORTAL}, 'contact.deletion', 'contacts', '3', '{}'::jsonb, ${T0}, ${T0}, ${T0})
      on conflict (dedup_key) do nothing`.execute(testDb.db);
    // An event inserted already processed is not waiting.
    await sql`insert into webhook_events (source, dedup_key, subscription_type, payload, received_at, last_received_at, next_attempt_at, processed_at)
      values ('hubspot', 'by-hand-3', 'contact.deletion', '{}'::jsonb, ${T0}, ${T0}, ${T0}, ${T0})`.execute(testDb.db);
    await sql`insert into webhook_events (source, dedup_key, subscription_type, payload, received_at, last_received_at, next_attempt_at)
      values ('hubspot', 'by-hand-1', 'contact.deletion', '{}'::jsonb, ${T0}, ${T0}, ${T0})
      on conflict (dedup_key) do update set deliveries = webhook_events.deliveries + 1`.execute(testDb.db);
    expect(await queued()).toEqual(['1', '2', '3']);
    await expectQueueTrue();
    expect(await processWebhookBatch(deps(T0, 10))).toMatchObject({ claimed: 3, processed: 2, failed: 1 });
    expect(await queued()).toEqual([]);
  });

  it('a claim passes over leased events until their lease ends; the oldest waiting event sets the age of the backlog', async () => {
    for (const objectId of [1, 2]) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 3 })], new Date(T0.getTime() + 30_000));
    expect(await webhookStatus(testDb.db, new Date(T0.getTime() + 90_000))).toMatchObject({ backlog: 3, oldestUnprocessedSeconds: 90 });
    const leaseUntil = new Date(T0.getTime() + 120_000);
    const claim = { now: T0, leaseUntil, limit: 2, maxAttempts: MAX_ATTEMPTS };
    expect((await claimWebhookEvents(testDb.db, claim)).map((e) => e.object_id)).toEqual(['1', '2']);
    // Leased, not due: the next claim takes the one after them.
    expect((await claimWebhookEvents(testDb.db, { ...claim, now: new Date(T0.getTime() + 60_000) })).map((e) => e.object_id)).toEqual(['3']);
    expect(await claimWebhookEvents(testDb.db, { ...claim, now: new Date(T0.getTime() + 60_000) })).toEqual([]);
    // Once the leases end, they are due again (the queue kept them).
    expect((await claimWebhookEvents(testDb.db, { ...claim, now: leaseUntil })).map((e) => e.object_id)).toEqual(['1', '2']);
  });

  it("a lane's claim takes its own share's events first and fills the batch from the other lanes' shares", async () => {
    for (let objectId = 1; objectId <= 12; objectId++) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    await expectQueueTrue();
    const [zero, one] = [await shareOf(0, 2), await shareOf(1, 2)];
    // Shares follow the object, not the order of arrival: both lanes have some of these twelve.
    expect(zero.length).toBeGreaterThan(0);
    expect(one.length).toBeGreaterThan(0);
    const claim = { now: T0, maxAttempts: MAX_ATTEMPTS };
    const lockedIds = (limit: number, share?: { lane: number; lanes: number }) =>
      testDb.db.transaction().execute(async (trx) => (await lockDueWebhookEvents(trx, { ...claim, limit, share })).map((e) => e.object_id));
    expect(await lockedIds(zero.length, { lane: 0, lanes: 2 })).toEqual(zero);
    expect(await lockedIds(one.length, { lane: 1, lanes: 2 })).toEqual(one);
    // Short in its own share: the others' fill the batch, so a short batch still means the whole queue was walked.
    expect(await lockedIds(zero.length + 1, { lane: 0, lanes: 2 })).toEqual([...zero, one[0]]);
    expect(await lockedIds(20, { lane: 1, lanes: 2 })).toEqual([...one, ...zero]);
    // One lane, or no share: every event, oldest first.
    const all = await queued();
    expect(await lockedIds(20, { lane: 0, lanes: 1 })).toEqual(all);
    expect(await lockedIds(20)).toEqual(all);
  });

  it("a batch claims its lane's share", async () => {
    for (let objectId = 1; objectId <= 12; objectId++) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    const [zero, one] = [await shareOf(0, 2), await shareOf(1, 2)];
    expect(await processWebhookBatch({ ...deps(T0, one.length), share: { lane: 1, lanes: 2 } })).toMatchObject({ claimed: one.length, processed: one.length });
    expect(await queued()).toEqual(zero);
  });

  it('a process finds its place among the live processes running a processor, by id', async () => {
    const seen = (id: string, role: string, lastSeenAt: Date) => ({ id, role, host: 'h', pid: 1, version: '1', started_at: T0, last_seen_at: lastSeenAt });
    await testDb.db.insertInto('hubsync_processes').values([
      seen('b', 'all', T0), seen('a', 'worker', T0), seen('c', 'web', T0), seen('d', 'worker', new Date(T0.getTime() - 60_000)),
    ]).execute();
    const place = (id: string) => rosterPlace(testDb.db, id, ['worker', 'all'], new Date(T0.getTime() - 30_000));
    expect(await place('a')).toEqual({ index: 0, count: 2 });
    expect(await place('b')).toEqual({ index: 1, count: 2 });
    // Not listed yet (its first heartbeat not written): after the others.
    expect(await place('e')).toEqual({ index: 2, count: 3 });
  });

  it("the processes running a processor divide the shares between all their lanes: this one's first batch is its own share", async () => {
    for (let objectId = 1; objectId <= 12; objectId++) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    // Two live workers, one lane each: this process ('b') is the second, so its lane's share is 1 of 2.
    const live = new Date(T0.getTime() + 86_400_000);
    await testDb.db.insertInto('hubsync_processes').values(['a', 'b'].map((id) => ({ id, role: 'worker', host: 'h', pid: 1, version: '1', started_at: T0, last_seen_at: live }))).execute();
    const own = await shareOf(1, 2);
    expect(own.length).toBeGreaterThan(0);
    // A clock that moves a second a call, so each batch marks its events at a time of its own.
    let tick = 0;
    const processor = createProcessorService({
      ...deps(T0, own.length),
      now: () => new Date(T0.getTime() + 1_000 * tick++),
      intervalMs: 5,
      concurrency: 1,
      processId: 'b',
      // The clock's seconds would make every claim a front claim (see the service).
      frontEveryMs: Number.POSITIVE_INFINITY,
    });
    await processor.start();
    try {
      await processor.idle();
    } finally {
      await processor.stop();
    }
    const { rows } = await sql<{ object_id: string; first: boolean }>`
      select object_id, processed_at = min(processed_at) over () as first from webhook_events`.execute(testDb.db);
    expect(rows).toHaveLength(12);
    expect(rows.filter((r) => r.first).map((r) => r.object_id).sort()).toEqual([...own].sort());
  });

  it.runIf(serverUrl)("a claim locks only the events it takes, and another's, whatever its share, passes over those a transaction holds (Postgres: two sessions)", async () => {
    for (let objectId = 1; objectId <= 8; objectId++) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    // A short queue with statistics: sorting it is cheaper than walking its index.
    await sql`analyze webhook_pending, webhook_events`.execute(testDb.db);
    const claim = { now: T0, maxAttempts: MAX_ATTEMPTS, limit: 10 };
    await testDb.db.transaction().execute(async (holder) => {
      expect((await lockDueWebhookEvents(holder, { ...claim, limit: 3 })).map((e) => e.object_id)).toEqual(['1', '2', '3']);
      // Another session (the pool's next connection) while the holder's transaction is open.
      for (const share of [undefined, { lane: 0, lanes: 2 }, { lane: 1, lanes: 2 }]) {
        const taken = await testDb.db.transaction().execute(async (trx) => (await lockDueWebhookEvents(trx, { ...claim, share })).map((e) => e.object_id));
        expect(taken.sort()).toEqual(['4', '5', '6', '7', '8']);
      }
    });
  });

  it('the abandoned sweep looks at the front of the queue only, where claims leave abandoned events; the gauges skip the retrying count', async () => {
    for (const objectId of [1, 2, 3]) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    // The second and third events used up their attempts (workers died holding them).
    await testDb.db.updateTable('webhook_events').set({ attempts: MAX_ATTEMPTS }).where('object_id', 'in', ['2', '3']).execute();
    expect(await failAbandonedWebhookEvents(testDb.db, T0, MAX_ATTEMPTS, 2)).toBe(1);
    expect(await queued()).toEqual(['1', '3']);
    expect(await failAbandonedWebhookEvents(testDb.db, T0, MAX_ATTEMPTS)).toBe(1);
    expect(await queued()).toEqual(['1']);
    await markWebhookEventsFailed(testDb.db, [{ id: await idOf('1'), error: 'try again', retryAt: new Date(T0.getTime() + 1_000) }], T0);
    expect(await webhookStatus(testDb.db, T0)).toMatchObject({ backlog: 1, retrying: 1, failed: 2 });
    expect(await webhookStatus(testDb.db, T0, { retrying: false })).toMatchObject({ backlog: 1, retrying: null, failed: 2 });
  });

  it('an entry a hand edit of the inbox left behind is passed over by claims and removed by the tidy', async () => {
    for (const objectId of [1, 2, 3]) await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId })]);
    // An operator deletes one event and marks another processed by hand, leaving their queue entries.
    await testDb.db.deleteFrom('webhook_events').where('object_id', '=', '1').execute();
    await testDb.db.updateTable('webhook_events').set({ processed_at: T0 }).where('object_id', '=', '2').execute();
    expect(await processWebhookBatch(deps(T0, 10))).toMatchObject({ claimed: 1, processed: 1 });
    expect(await queued()).toEqual(['(gone)', '2']);
    expect(await webhookStatus(testDb.db, T0)).toMatchObject({ backlog: 2 });
    expect(await tidyWebhookQueue(testDb.db, 1_000)).toBe(2);
    expect(await queued()).toEqual([]);
    expect(await webhookStatus(testDb.db, T0)).toMatchObject({ backlog: 0 });
    expect(await tidyWebhookQueue(testDb.db, 1_000)).toBe(0);
  });

  it('announces stored events once they are committed, in a notification of its own; calls while one is on its way make one more, not one each', async () => {
    let heard = 0;
    const unlisten = await testDb.listen(INBOX_CHANNEL, () => (heard += 1));
    // Notifications arrive in commit order: once this one is heard, every one committed before it has been.
    const everythingHeard = async () => {
      let marked = false;
      const unmark = await testDb.listen('queue_test_mark', () => (marked = true));
      marked = false;
      await sql`select pg_notify('queue_test_mark', '')`.execute(testDb.db);
      await waitFor(() => marked);
      await unmark();
      return heard;
    };
    try {
      heard = 0; // Listening started: the listener reports that once.
      // Stored inside a transaction, nothing is announced: the caller announces once it has committed.
      await testDb.db.transaction().execute(async (trx) => {
        await storeHubSpotEvents(trx, [hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 9001 })], T0);
      });
      expect(await everythingHeard()).toBe(0);
      await store([hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 9002 })]);
      await waitFor(() => heard === 1);
      // Fifty calls at once: one notification on its way (the store's, if still in flight, or a new one) and one more after it.
      await Promise.all(Array.from({ length: 50 }, () => announceStoredEvents(testDb.db)));
      expect(await everythingHeard()).toBeGreaterThanOrEqual(2);
      expect(heard).toBeLessThanOrEqual(3);
    } finally {
      await unlisten();
    }
  });

  it("carries the storing receiver's load, read as the notification is sent; without one the payload is empty", async () => {
    const payloads: string[] = [];
    const unlisten = await testDb.listen(INBOX_CHANNEL, (payload) => payloads.push(payload));
    try {
      await waitFor(() => payloads.length === 1); // listening started
      await storeHubSpotEvents(testDb.db, [hubspotEvent({ subscriptionType: 'contact.deletion', objectId: 9101 })], T0, () => 0.874);
      await waitFor(() => payloads.length === 2);
      await announceStoredEvents(testDb.db);
      await waitFor(() => payloads.length === 3);
      expect(payloads).toEqual(['', loadPayload(0.874), '']);
      expect(loadPayload(0.874)).toBe('busy=0.87');
    } finally {
      await unlisten();
    }
  });

  it('an announcement to a database that is gone settles without an error (the idle poll covers it), and the next one is sent afresh', async () => {
    const gone = await createTestDb();
    await gone.close();
    await expect(Promise.all([announceStoredEvents(gone.db), announceStoredEvents(gone.db)])).resolves.toEqual([undefined, undefined]);
    await expect(announceStoredEvents(gone.db)).resolves.toBeUndefined();
  });
});
