import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDue, claimNextOfKey, insertAppEvents, markFailed, markSent } from '../../../src/outbox/store.ts';
import { createTestDb, type TestDb } from '../../helpers/db.ts';

let t: TestDb;
const NOW = new Date('2026-11-22T10:00:00Z');
const LATER = new Date(NOW.getTime() + 60_000);

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => t?.close());
beforeEach(async () => {
  await t.db.deleteFrom('app_event_outbox').execute();
});

async function enqueue(keys: number, perKey: number): Promise<void> {
  const events = [];
  for (let n = 0; n < perKey; n++) for (let k = 0; k < keys; k++) events.push({ userId: 'u', name: 'e', payload: { k, n }, idempotencyKey: `${k}:${n}`, orderingKey: `k${k}` });
  await insertAppEvents(t.db, events);
  await t.db.updateTable('app_event_outbox').set({ next_attempt_at: NOW }).execute();
}

const claim = (token: string, limit = 100) => claimDue(t.db, { now: NOW, limit, lockedUntil: LATER, claimToken: token });

describe('outbox claims', () => {
  it('claims only the head of each ordering key, and nothing while heads are leased', async () => {
    await enqueue(5, 3);
    const first = await claim('a');
    expect(first.map((r) => r.payload)).toEqual([0, 1, 2, 3, 4].map((k) => ({ k, n: 0 })));
    expect(await claim('b')).toEqual([]);
  });

  it('concurrent claims get disjoint rows', async () => {
    await enqueue(200, 2);
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((token) => claim(token, 30)));
    const ids = results.flat().map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(120);
    for (const [i, rows] of results.entries()) expect(rows.every((r) => r.locked_by === ['a', 'b', 'c', 'd'][i])).toBe(true);
  });

  it("chains to a key's next event only once it is the head, due and unleased", async () => {
    await enqueue(1, 3);
    const [head] = await claim('a');
    const next = (token: string, now = NOW) => claimNextOfKey(t.db, 'k0', { now, lockedUntil: LATER, claimToken: token });
    // The head is leased (pending): it is still the head, and not claimable again.
    expect(await next('b')).toBeUndefined();
    await markSent(t.db, head!.id, NOW, 201);
    const second = await next('a');
    expect(second?.payload).toEqual({ k: 0, n: 1 });
    // A dead head holds the rest back.
    await markFailed(t.db, second!.id, 'a', { status: 'dead', attempts: 1, failures: 1, nextAttemptAt: NOW, lastStatus: 400, lastError: 'HTTP 400' });
    expect(await next('a')).toBeUndefined();
    expect(await claim('c')).toEqual([]);
  });

  it('a failed attempt from a lost lease changes nothing', async () => {
    await enqueue(1, 1);
    const [row] = await claim('a');
    // The lease expired and another worker took the row over.
    const [again] = await claimDue(t.db, { now: LATER, limit: 10, lockedUntil: new Date(LATER.getTime() + 60_000), claimToken: 'b' });
    expect(again?.id).toBe(row!.id);
    expect(await markFailed(t.db, row!.id, 'a', { status: 'pending', attempts: 1, failures: 0, nextAttemptAt: LATER, lastStatus: 503, lastError: 'HTTP 503' })).toBe(false);
    expect(await markFailed(t.db, row!.id, 'b', { status: 'pending', attempts: 1, failures: 0, nextAttemptAt: LATER, lastStatus: 503, lastError: 'HTTP 503' })).toBe(true);
  });
});
