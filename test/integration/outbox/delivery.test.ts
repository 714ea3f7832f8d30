import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { createTestDb, type TestDb } from '../../helpers/db.ts';
import { discardDeadEvents, enqueueAppEvent, outboxCollector, outboxStatus, retryOutbox } from '../../../src/outbox/api.ts';
import { createOutboxDelivery, type OutboxDelivery } from '../../../src/outbox/delivery.ts';
import { insertAppEvents } from '../../../src/outbox/store.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import type { RunningParagonSandbox } from '../../../src/sandbox/paragon/index.ts';
import { quietLog, startParagon, testConfig, waitFor } from './harness.ts';

let t: TestDb;
let sandbox: RunningParagonSandbox;
const loops: OutboxDelivery[] = [];

beforeAll(async () => {
  t = await createTestDb();
  // Sandbox time runs 200× faster: its minutes are 300 ms.
  sandbox = await startParagon({ timeScale: 0.005 });
});
afterAll(async () => {
  await sandbox?.close();
  await t?.close();
});
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.stop();
  await t.db.deleteFrom('app_event_outbox').execute();
  sandbox.paragon.reset();
  sandbox.paragon.gate.set({ ratePerSecond: 0, outageUntil: 0, reject: [], latencyMs: 0, errorProbability: 0, throttleProbability: 0 });
});

function startLoop(overrides: Parameters<typeof testConfig>[1] = {}, metrics?: Metrics): OutboxDelivery {
  const config = testConfig(sandbox.baseUrl, overrides);
  const loop = createOutboxDelivery({ db: t.db, paragon: config.paragon!, outbox: config.outbox, log: quietLog, ...(metrics ? { metrics } : {}) });
  loops.push(loop);
  void loop.start();
  return loop;
}

/** `contacts` contacts with `perContact` events each, enqueued interleaved (c0#0, c1#0, ..., c0#1, ...). */
async function enqueueInterleaved(contacts: number, perContact: number, name = 'Contact Updated'): Promise<number> {
  const events = [];
  for (let n = 0; n < perContact; n++) {
    for (let c = 0; c < contacts; c++) {
      events.push({ userId: `user-${c % 3}`, name, payload: { contact: `c${c}`, n }, idempotencyKey: `c${c}:${n}`, orderingKey: `contacts:c${c}` });
    }
  }
  return insertAppEvents(t.db, events);
}

/** Per contact, the `n`s in the order the sandbox accepted them. */
function arrivalOrder(): Map<string, number[]> {
  const order = new Map<string, number[]>();
  for (const e of sandbox.paragon.appEvents) {
    const list = order.get(String(e.payload['contact'])) ?? [];
    list.push(Number(e.payload['n']));
    order.set(String(e.payload['contact']), list);
  }
  return order;
}

describe('outbox delivery', () => {
  it('delivers every event once, in order per contact, with tokens that verify', async () => {
    expect(await enqueueInterleaved(6, 8)).toBe(48);
    const metrics = new Metrics();
    startLoop({}, metrics);
    await waitFor(async () => (await outboxStatus(t.db)).pending === 0, 'all sent');
    expect(sandbox.paragon.appEvents).toHaveLength(48);
    expect(sandbox.paragon.stats.unauthorized).toBe(0);
    for (const ns of arrivalOrder().values()) expect(ns).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // The sandbox checked signature and audience; the user is the token's sub.
    for (const e of sandbox.paragon.appEvents) expect(e.userId).toMatch(/^user-[012]$/);
    // A delivery is counted once its row is marked sent: the last count may follow by a moment the
    // commit the status query saw.
    await waitFor(() => metrics.counter('outbox.delivered') >= 48, 'every delivery counted');
    expect(metrics.counter('outbox.delivered')).toBe(48);
    await outboxCollector(t.db)(metrics, new Date());
    expect(metrics.snapshot().gauges).toMatchObject({ 'outbox.pending': 0, 'outbox.dead': 0, 'outbox.oldest_pending_age_seconds': 0, 'outbox.sent_last_hour': 48 });
    const rows = await t.db.selectFrom('app_event_outbox').selectAll().execute();
    expect(rows.every((r) => r.status === 'sent' && r.sent_at !== null && r.attempts === 1 && r.locked_by === null)).toBe(true);
  });

  it('rides out a three-minute outage and throttling without losing or reordering anything', async () => {
    sandbox.paragon.gate.outage(3 * 60_000, 'reset');
    await enqueueInterleaved(5, 6);
    startLoop();
    await waitFor(() => sandbox.paragon.stats.outage > 0, 'requests during the outage');
    // Then a throttled spell: random 429s with a Retry-After of two (sandbox) seconds.
    sandbox.paragon.gate.set({ throttleProbability: 0.3, retryAfterSeconds: 2 });
    await waitFor(async () => (await outboxStatus(t.db)).pending === 0, 'all sent after the outage', 60_000);
    expect(sandbox.paragon.stats.throttled).toBeGreaterThan(0);
    expect(sandbox.paragon.appEvents).toHaveLength(30);
    for (const ns of arrivalOrder().values()) expect(ns).toEqual([0, 1, 2, 3, 4, 5]);
    const rows = await t.db.selectFrom('app_event_outbox').select(['status', 'failures', 'attempts']).execute();
    expect(rows.every((r) => r.status === 'sent' && r.failures === 0)).toBe(true);
    expect(rows.some((r) => r.attempts > 1)).toBe(true);
  });

  it('after throttling narrows its window, claims only what its senders can send before the claim expires', async () => {
    await enqueueInterleaved(60, 1);
    const config = testConfig(sandbox.baseUrl, { outbox: { batchSize: 50, concurrency: 8 } });
    const loop = createOutboxDelivery({ db: t.db, paragon: config.paragon!, outbox: config.outbox, log: quietLog });
    // Every request answered 429: each halves the window, down to one sender.
    sandbox.paragon.gate.set({ throttleProbability: 1, retryAfterSeconds: 1 });
    expect(await loop.runOnce()).toBe(50);
    sandbox.paragon.gate.set({ throttleProbability: 0 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // One sender, ceil(50 / 8) = 7 rows: the lease covers seven requests timing out one after another.
    expect(await loop.runOnce()).toBe(7);
    expect(sandbox.paragon.appEvents).toHaveLength(7);
    const claimed = await t.db.selectFrom('app_event_outbox').select('id').where('locked_by', 'is not', null).execute();
    expect(claimed).toEqual([]);
  });

  it('makes a permanently refused event dead, and `retry --dead` redelivers it', async () => {
    sandbox.paragon.gate.set({ reject: [{ name: 'Contact Created', userId: 'user-bad', status: 400, message: 'bad payload' }] });
    await enqueueAppEvent(t.db, { userId: 'user-bad', name: 'Contact Created', payload: { email: 'x@example.com' }, idempotencyKey: 'bad-1', orderingKey: 'contact-x' });
    // The same contact's next event waits behind the dead one: order per contact holds.
    await enqueueAppEvent(t.db, { userId: 'user-bad', name: 'Contact Updated', payload: { email: 'x2@example.com' }, idempotencyKey: 'bad-2', orderingKey: 'contact-x' });
    await enqueueAppEvent(t.db, { userId: 'user-ok', name: 'Contact Created', payload: { email: 'y@example.com' }, idempotencyKey: 'ok-1' });
    expect(await enqueueAppEvent(t.db, { userId: 'user-ok', name: 'Contact Created', payload: {}, idempotencyKey: 'ok-1' })).toBe(false);
    startLoop({ outbox: { maxAttempts: 3 } });
    await waitFor(async () => (await outboxStatus(t.db)).dead === 1, 'the refused event dead');
    const dead = await t.db.selectFrom('app_event_outbox').selectAll().where('idempotency_key', '=', 'bad-1').executeTakeFirstOrThrow();
    expect(dead).toMatchObject({ status: 'dead', failures: 3, last_status: 400 });
    expect(dead.last_error).toContain('bad payload');
    expect(sandbox.paragon.appEvents.map((e) => e.userId)).toEqual(['user-ok']);
    const held = await outboxStatus(t.db, new Date(Date.now() + 60_000));
    expect(held).toMatchObject({ pending: 1, dead: 1 });
    expect(held.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(60);

    sandbox.paragon.gate.set({ reject: [] });
    expect(await retryOutbox(t.db, { dead: true })).toMatchObject({ revived: 1 });
    await waitFor(async () => (await outboxStatus(t.db)).pending === 0, 'the revived event sent');
    expect(sandbox.paragon.appEvents.map((e) => `${e.userId} ${e.name}`)).toEqual(['user-ok Contact Created', 'user-bad Contact Created', 'user-bad Contact Updated']);
    expect((await outboxStatus(t.db)).dead).toBe(0);
  });

  it('discarding a dead event releases its contact\'s later events', async () => {
    sandbox.paragon.gate.set({ reject: [{ name: 'Poison', status: 422 }] });
    await enqueueAppEvent(t.db, { userId: 'u', name: 'Poison', payload: {}, idempotencyKey: 'p-1', orderingKey: 'contact-p' });
    await enqueueAppEvent(t.db, { userId: 'u', name: 'Contact Updated', payload: {}, idempotencyKey: 'p-2', orderingKey: 'contact-p' });
    startLoop({ outbox: { maxAttempts: 1 } });
    await waitFor(async () => (await outboxStatus(t.db)).dead === 1, 'the poison event dead');
    const dead = await t.db.selectFrom('app_event_outbox').select('id').where('status', '=', 'dead').execute();
    expect(await discardDeadEvents(t.db, dead.map((r) => r.id))).toBe(1);
    await waitFor(async () => (await outboxStatus(t.db)).pending === 0, 'the held event sent');
    expect(sandbox.paragon.appEvents.map((e) => e.name)).toEqual(['Contact Updated']);
  });

  it('two loops at once claim disjoint rows: each event delivered once, order kept', async () => {
    sandbox.paragon.gate.set({ latencyMs: 5 });
    await enqueueInterleaved(12, 10);
    const a = new Metrics();
    const b = new Metrics();
    startLoop({}, a);
    startLoop({}, b);
    await waitFor(async () => (await outboxStatus(t.db)).pending === 0, 'all sent');
    expect(sandbox.paragon.appEvents).toHaveLength(120);
    const keys = sandbox.paragon.appEvents.map((e) => `${e.payload['contact']}:${e.payload['n']}`);
    expect(new Set(keys).size).toBe(120);
    for (const ns of arrivalOrder().values()) expect(ns).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A loop counts a delivery once its row is marked sent (see the first test).
    const delivered = () => a.counter('outbox.delivered') + b.counter('outbox.delivered');
    await waitFor(() => delivered() >= 120, 'every delivery counted');
    expect(delivered()).toBe(120);
  });

  it('works through long per-contact backlogs in order (the next event of a contact is chained)', async () => {
    const events = [];
    for (let c = 0; c < 3; c++) {
      for (let n = 0; n < 60; n++) events.push({ userId: 'u', name: 'Contact Updated', payload: { contact: `c${c}`, n }, idempotencyKey: `h${c}:${n}`, orderingKey: `contacts:c${c}` });
    }
    await insertAppEvents(t.db, events);
    startLoop();
    await waitFor(async () => (await outboxStatus(t.db)).pending === 0, 'all sent');
    expect(sandbox.paragon.appEvents).toHaveLength(180);
    for (const ns of arrivalOrder().values()) expect(ns).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('deletes sent events past outbox.sentRetentionHours when the loop starts, and nothing else', async () => {
    await insertAppEvents(t.db, ['old-1', 'old-2', 'recent', 'pending'].map((key) => ({ userId: 'user-0', name: 'Contact Updated', payload: { key }, idempotencyKey: key, orderingKey: `contacts:${key}` })));
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
    await t.db.updateTable('app_event_outbox').set({ status: 'sent', sent_at: hoursAgo(3) }).where('idempotency_key', 'in', ['old-1', 'old-2']).execute();
    await t.db.updateTable('app_event_outbox').set({ status: 'sent', sent_at: hoursAgo(0.5) }).where('idempotency_key', '=', 'recent').execute();
    startLoop({ outbox: { sentRetentionHours: 1 } });
    const keys = async () => (await t.db.selectFrom('app_event_outbox').select('idempotency_key').orderBy('idempotency_key').execute()).map((r) => r.idempotency_key);
    await waitFor(async () => (await keys()).length === 2, 'the old sent events to go');
    expect(await keys()).toEqual(['pending', 'recent']);
  });

  it('reuses a user token until near expiry', async () => {
    const tokens: string[] = [];
    const config = testConfig(sandbox.baseUrl);
    const loop = createOutboxDelivery({
      db: t.db, paragon: config.paragon!, outbox: config.outbox, log: quietLog,
      fetch: async (input, init) => {
        tokens.push(String(new Headers(init?.headers).get('authorization')).slice(7));
        return fetch(input, init);
      },
    });
    await enqueueInterleaved(1, 3);
    while ((await loop.runOnce()) > 0);
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(1);
    const claims = decodeJwt(tokens[0]!);
    expect(claims).toMatchObject({ sub: 'user-0', aud: `useparagon.com/${config.paragon!.projectId}` });
    expect(claims.exp! - claims.iat!).toBe(300);
  });
});
