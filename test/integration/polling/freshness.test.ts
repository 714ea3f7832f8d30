import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { finishRun, insertRun, lastPollStart } from '../../../src/polling/run-store.ts';
import type { SyncRunKind } from '../../../src/db/sync-tables.ts';
import { saveCursor } from '../../../src/polling/cursor-store.ts';
import { freshnessReadiness } from '../../../src/polling/freshness.ts';
import { pollingStatus } from '../../../src/polling/status.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

const NOW = Date.UTC(2026, 11, 5, 12);
const jobs = configSchema.parse({
  hubspot: { accounts: [{ portalId: 1, accessToken: 'pat-test' }] },
  jobs: [{ name: 'contacts', portalId: 1, objectType: 'contacts', properties: ['email'], archivedSweep: '* * * * *', freshnessSeconds: 300 }],
}).jobs;

async function run(kind: SyncRunKind, status: 'ok' | 'failed', secondsAgo: number): Promise<void> {
  const startedAt = new Date(NOW - secondsAgo * 1000);
  const id = await insertRun(testDb.db, { jobName: 'contacts', portalId: 1, objectType: 'contacts', kind, worker: 'w', startedAt });
  await finishRun(testDb.db, id, { pages: 0, records: 0, total: null, apiCalls: 0, rateLimited: 0, status, error: status === 'failed' ? 'search failed' : null, finishedAt: startedAt, durationMs: 0 });
}

describe('freshness readiness', () => {
  it('judges a job by its polls: successful archived sweeps do not make failing polls look fresh', async () => {
    const ready = freshnessReadiness(testDb.db, jobs, NOW - 86_400_000, () => NOW);
    await run('incremental', 'ok', 3 * 3600);
    await run('incremental', 'failed', 20);
    await run('sweep', 'ok', 10);
    await run('incremental', 'failed', 5);
    expect(await ready()).toEqual({ ok: false, reasons: ['job contacts: last successful poll 10800 s ago (bound 300 s)'] });
    await run('incremental', 'ok', 1);
    expect(await ready()).toEqual({ ok: true, reasons: [] });
  });

  it('a quiet object type is not behind: lag counts from the later of the cursor and the last successful poll', async () => {
    await saveCursor(testDb.db, {
      jobName: 'contacts', portalId: 1, objectType: 'contacts', mode: 'incremental', backfillAfter: null, backfillStartedAt: null,
      cursorTs: NOW - 3 * 86_400_000, cursorId: '7', cursorTsComplete: true, rescanFrom: null,
    }, new Date(NOW));
    const [status] = await pollingStatus(testDb.db, jobs, new Date(NOW));
    // The newest successful poll (above) started 1 s before NOW; the newest change is three days old.
    expect(status?.cursorLagSeconds).toBe(1);
  });

  it("the adaptive gate's last poll is the last successful one, so a failed poll is retried at the next tick", async () => {
    await run('incremental', 'ok', 30);
    await run('incremental', 'failed', 3);
    await run('sweep', 'ok', 2);
    expect(await lastPollStart(testDb.db, 'contacts')).toBe(NOW - 30_000);
  });
});
