import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import { createAdaptiveGate } from '../../../src/polling/adaptive.ts';
import { completeRescans, pendingRescan, requestRescans } from '../../../src/polling/rescan-store.ts';
import { finishRun, insertRun } from '../../../src/polling/run-store.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

describe('requested re-reads', () => {
  it('wait until a poll covers them, from the oldest point asked for, and do not wait for a stretched adaptive interval', async () => {
    const { db } = testDb;
    const T = Date.UTC(2026, 11, 6, 12);
    const [job] = configSchema.parse({
      hubspot: { accounts: [{ portalId: 5, accessToken: 'pat-x' }] },
      jobs: [{ name: 'deals', portalId: 5, objectType: 'deals', schedule: '* * * * *', lookbackSeconds: 0, adaptive: { enabled: true } }],
    }).jobs;
    // Webhooks saw every change polling found: the next interval doubles.
    const ref = { portalId: 5, objectType: 'deals', objectId: '1' };
    for (let i = 0; i < 3; i++) {
      const version = T - 200_000 + i * 1000;
      await db.transaction().execute((trx) =>
        applyObservations(trx, [
          { kind: 'propertyChange', ref, property: 'amount', value: String(i), version, via: 'webhook', seenAt: new Date(version + 100) },
          { kind: 'snapshot', ref, properties: { amount: String(i) }, propertyVersions: { amount: version }, version, via: 'poll', seenAt: new Date(version + 5000) },
        ]),
      );
    }
    const gate = createAdaptiveGate(db, job!, pino({ level: 'silent' }));
    const run = await insertRun(db, { jobName: 'deals', portalId: 5, objectType: 'deals', kind: 'incremental', worker: 'w', startedAt: new Date(T) });
    await finishRun(db, run, { pages: 1, records: 1, total: null, apiCalls: 1, rateLimited: 0, status: 'ok', error: null, finishedAt: new Date(T + 10), durationMs: 10 });
    expect((await gate.afterRun(T)).action).toBe('stretch');
    expect(await gate.shouldRun(T + 60_000)).toBe(false);

    await requestRescans(db, ['deals'], new Date(T - 3_600_000), 'gap one', new Date(T));
    await requestRescans(db, ['deals'], new Date(T - 7_200_000), 'gap two', new Date(T));
    const pending = await pendingRescan(db, 'deals');
    expect(pending?.from).toBe(T - 7_200_000);
    expect(await gate.shouldRun(T + 60_000)).toBe(true);
    // A request made after the poll read the pending ones stays pending.
    await requestRescans(db, ['deals'], new Date(T - 60_000), 'gap three', new Date(T));
    await completeRescans(db, 'deals', pending!.upTo, new Date(T));
    expect((await pendingRescan(db, 'deals'))?.from).toBe(T - 60_000);
    expect(await pendingRescan(db, 'other')).toBeUndefined();
  });
});
