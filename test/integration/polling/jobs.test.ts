import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCursor } from '../../../src/polling/cursor-store.ts';
import { acquireLease, renewLease } from '../../../src/polling/lease-store.ts';
import { leaseName, runJob, startBackfill } from '../../../src/polling/jobs.ts';
import { createPollingService } from '../../../src/polling/scheduler.ts';
import { pollingStatus } from '../../../src/polling/status.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { switchableDatabase } from '../../helpers/outage.ts';
import { liveTruth, mirrorRows, missingOrStale, PORTAL, poller, pollingConfig } from './harness.ts';

const testDb = useTestDb();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0.01 });
  sandbox.hubspot.seed({ objectType: 'contacts', count: 800, at: Date.now() - 60_000 });
  sandbox.hubspot.seed({ objectType: 'companies', count: 50, at: Date.now() - 60_000 });
});

afterAll(async () => {
  await sandbox?.close();
});

const later = async (ms: number) => {
  const at = Date.now() + ms;
  while (Date.now() <= at) await new Promise((r) => setTimeout(r, Math.max(1, at - Date.now())));
};

describe('polling jobs', () => {
  it('backfills through the list endpoint, then picks up changes hidden by index lag on the next run', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'lag', properties: ['email', 'firstname'], lookbackSeconds: 30 }]));
    const first = await runJob(p.deps, p.job('lag'), 'poll');
    expect(first.status === 'ok' && first.runs.map((r) => r.kind)).toEqual(['backfill', 'incremental']);
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
    // The list reports no size: search's count of the live records is the backfill's total (its percentage and ETA).
    const backfill = await testDb.db.selectFrom('sync_runs').select(['records', 'total']).where('job_name', '=', 'lag').where('kind', '=', 'backfill').executeTakeFirstOrThrow();
    expect(backfill).toEqual({ records: 800, total: 800 });
    const cursor = await getCursor(testDb.db, { jobName: 'lag', portalId: PORTAL, objectType: 'contacts' });
    expect(cursor?.mode).toBe('incremental');

    // 1.5 s (scaled) of search-index lag: the next run cannot see these changes yet.
    sandbox.hubspot.setIndexLag(150_000);
    await later(5);
    const ids = liveTruth(sandbox).map((o) => o.id).slice(0, 120);
    ids.forEach((id, i) => sandbox.hubspot.update('contacts', id, { firstname: `lagged-${i}` }, { silent: true }));
    await later(5);
    expect((await runJob(p.deps, p.job('lag'), 'poll')).status).toBe('ok');
    expect((await missingOrStale(testDb, sandbox)).length).toBe(120);
    await later(1600);
    expect((await runJob(p.deps, p.job('lag'), 'poll')).status).toBe('ok');
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
    sandbox.hubspot.setIndexLag(0);
  }, 120_000);

  it('sweeps archived records into tombstones at their archivedAt', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'sweep', objectType: 'companies', properties: ['name'], archivedSweep: '0 * * * *' }]));
    expect((await runJob(p.deps, p.job('sweep'), 'poll')).status).toBe('ok');
    const victims = liveTruth(sandbox, 'companies').slice(0, 7).map((o) => o.id);
    for (const id of victims) sandbox.hubspot.archive('companies', id, { silent: true });
    const outcome = await runJob(p.deps, p.job('sweep'), 'sweep');
    expect(outcome.status === 'ok' && outcome.runs.map((r) => [r.kind, r.records])).toEqual([['sweep', 7]]);
    const rows = await mirrorRows(testDb, 'companies');
    expect(victims.every((id) => rows.get(id)?.deleted)).toBe(true);
    expect([...rows.values()].filter((r) => r.deleted).length).toBe(7);
  }, 60_000);

  it('follows a merge only polling saw: both merged ids end archived into the new record', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'merges', properties: ['email'] }]));
    expect((await runJob(p.deps, p.job('merges'), 'poll')).status).toBe('ok');
    const [a, b] = liveTruth(sandbox).slice(-2).map((o) => o.id) as [string, string];
    const merged = sandbox.hubspot.merge('contacts', a, b, { silent: true });
    if (!merged.ok) throw new Error(merged.message);
    await later(5);
    expect((await runJob(p.deps, p.job('merges'), 'poll')).status).toBe('ok');
    const rows = await testDb.db
      .selectFrom('hubspot_objects')
      .select(['object_id', 'archived', 'merged_into'])
      .where('portal_id', '=', PORTAL)
      .where('object_type', '=', 'contacts')
      .where('object_id', 'in', [a, b, merged.object.id])
      .orderBy('object_id')
      .execute();
    expect(rows).toEqual(
      [
        { object_id: a, archived: true, merged_into: merged.object.id },
        { object_id: b, archived: true, merged_into: merged.object.id },
        { object_id: merged.object.id, archived: false, merged_into: null },
      ].sort((x, y) => (x.object_id < y.object_id ? -1 : 1)),
    );
  }, 60_000);

  it('skips a run while another worker holds the job lease, and takes it once expired', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'leased', properties: ['email'] }]), 'worker-b');
    const job = p.job('leased');
    const t0 = new Date();
    expect(await acquireLease(testDb.db, leaseName(job, 'poll'), 'worker-a', t0, 60_000)).toBe(true);
    expect(await runJob(p.deps, job, 'poll')).toEqual({ status: 'skipped', reason: 'leased' });
    // A sweep of the same job is a different lease.
    expect((await runJob(p.deps, job, 'sweep')).status).toBe('ok');
    // worker-a dies: its lease expires, and a renewal after that fails.
    const expired = new Date(t0.getTime() + 61_000);
    expect(await acquireLease(testDb.db, leaseName(job, 'poll'), 'worker-b', expired, 60_000)).toBe(true);
    expect(await renewLease(testDb.db, leaseName(job, 'poll'), 'worker-a', expired, 60_000)).toBe(false);
    await testDb.db.deleteFrom('job_leases').execute();
    expect((await runJob(p.deps, job, 'poll')).status).toBe('ok');
    expect(await testDb.db.selectFrom('job_leases').selectAll().execute()).toEqual([]);
  }, 60_000);

  it('two workers started together never run the same job at once', async () => {
    const config = pollingConfig(sandbox.baseUrl, [{ name: 'race', properties: ['email'] }]);
    const a = poller(testDb, sandbox, config, 'worker-a');
    const b = poller(testDb, sandbox, config, 'worker-b');
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.all([runJob(a.deps, a.job('race'), 'poll'), runJob(b.deps, b.job('race'), 'poll')]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['ok', 'skipped']);
    }
    // Two schedulers sharing the database: each triggers the job; one runs, one skips.
    const services = [a, b].map((x, i) => createPollingService({ ...x.deps, jobs: config.jobs, worker: `svc-${i}`, runAtStart: false }));
    for (const s of services) await s.start();
    const outcomes = await Promise.all(services.map((s) => s.trigger('race')));
    expect(outcomes.map((o) => o?.status).sort()).toEqual(['ok', 'skipped']);
    for (const s of services) await s.stop();
    const runs = await testDb.db.selectFrom('sync_runs').select(['started_at', 'finished_at']).where('job_name', '=', 'race').orderBy('started_at').execute();
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finished_at!.getTime());
  }, 60_000);

  it('with the database down, skips ticks while it backs off, and logs when the failures start and when they end', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'outage', properties: ['email'] }]));
    const outage = switchableDatabase(testDb.db);
    let skew = 0;
    const service = createPollingService({ ...p.deps, db: outage.db, jobs: p.config.jobs, runAtStart: false, now: () => Date.now() + skew });
    await service.start();
    const failing = () => p.lines.filter((l) => Number(l.level) >= 40);
    try {
      expect((await service.trigger('outage'))?.status).toBe('failed');
      const attempted = outage.statements;
      // Ticks inside the backoff are skipped without touching the database.
      for (let i = 0; i < 5; i++) expect(await service.trigger('outage')).toEqual({ status: 'skipped', reason: 'backoff' });
      expect(outage.statements).toBe(attempted);
      for (let i = 0; i < 3; i++) {
        skew += 11 * 60_000;
        expect((await service.trigger('outage'))?.status).toBe('failed');
      }
      expect(failing().map((l) => l.msg)).toEqual(['polling outage (poll) failed; retrying with backoff until it recovers']);
      outage.down = false;
      skew += 11 * 60_000;
      expect((await service.trigger('outage'))?.status).toBe('ok');
      expect(p.lines.find((l) => l.msg === 'polling outage (poll) recovered')).toMatchObject({ failedAttempts: 4 });
      expect(failing()).toHaveLength(1);
    } finally {
      await service.stop();
    }
  }, 60_000);

  it('runNow waits out the run already going here, then runs its own; trigger would skip', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'now', properties: ['email'] }]));
    const service = createPollingService({ ...p.deps, jobs: p.config.jobs, runAtStart: true });
    await service.start();
    try {
      expect(await service.trigger('now')).toEqual({ status: 'skipped', reason: 'leased' });
      const outcome = await service.runNow('now');
      expect(outcome?.status).toBe('ok');
      const runs = await testDb.db.selectFrom('sync_runs').select('kind').where('job_name', '=', 'now').orderBy('id').execute();
      expect(runs.map((r) => r.kind)).toEqual(['backfill', 'incremental', 'incremental']);
    } finally {
      await service.stop();
    }
  }, 60_000);

  it('startBackfill re-reads from scratch on the next run; status shows runs, cursor and lag', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'again', properties: ['email'] }]));
    expect((await runJob(p.deps, p.job('again'), 'poll')).status).toBe('ok');
    expect(await startBackfill(testDb.db, 'again')).toBe(1);
    const outcome = await runJob(p.deps, p.job('again'), 'poll');
    expect(outcome.status === 'ok' && outcome.runs.map((r) => [r.kind, r.records])).toEqual([['backfill', liveTruth(sandbox).length], ['incremental', expect.any(Number)]]);
    const status = await pollingStatus(testDb.db, p.config.jobs, new Date());
    const again = status.find((s) => s.job === 'again');
    expect(again).toMatchObject({ mode: 'incremental', portalId: PORTAL, lastRun: { kind: 'incremental', status: 'ok' } });
    expect(again?.cursorLagSeconds).toBeGreaterThanOrEqual(0);
    expect(again?.nextRunAt).toMatch(/^\d{4}-/);
    expect(status.map((s) => s.job)).toContain('lag');
  }, 60_000);
  it('a backfill requested while a run is going is not lost: the run stops and the next one re-reads everything', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'restart', properties: ['email'] }]));
    const key = { jobName: 'restart', portalId: PORTAL, objectType: 'contacts' };
    let settled = false;
    const running = runJob(p.deps, p.job('restart'), 'poll').finally(() => (settled = true));
    // Once the first list page is committed, mid-backfill:
    while (!settled && (await getCursor(testDb.db, key))?.backfillAfter == null) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(settled).toBe(false);
    expect(await startBackfill(testDb.db, 'restart')).toBe(1);
    const outcome = await running;
    expect(outcome.status).toBe('aborted');
    expect(outcome.status !== 'skipped' && outcome.runs.at(-1)?.error).toMatch(/backfill was requested/);
    expect((await getCursor(testDb.db, key))).toMatchObject({ mode: 'backfill', backfillAfter: null });
    const next = await runJob(p.deps, p.job('restart'), 'poll');
    expect(next.status === 'ok' && next.runs.map((r) => [r.kind, r.records])).toEqual([['backfill', liveTruth(sandbox).length], ['incremental', expect.any(Number)]]);
  }, 60_000);

  it('stop() ends the service: the run in flight closes, its page commits stay, its lease is released', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'stopping', properties: ['email'] }]));
    const service = createPollingService({ ...p.deps, jobs: p.config.jobs, runAtStart: true });
    await service.start();
    expect(service.nextRuns()).toEqual({ stopping: expect.any(Date) });
    // Wait until the backfill has committed a page, then stop mid-run.
    await expect.poll(async () => (await testDb.db.selectFrom('sync_runs').select('pages').where('job_name', '=', 'stopping').executeTakeFirst())?.pages ?? 0, { timeout: 20_000 }).toBeGreaterThan(0);
    await service.stop();
    const runs = await testDb.db.selectFrom('sync_runs').select(['status']).where('job_name', '=', 'stopping').execute();
    expect(runs.every((r) => r.status !== 'running')).toBe(true);
    expect(await testDb.db.selectFrom('job_leases').selectAll().where('name', 'like', '%stopping').execute()).toEqual([]);
    // Whatever was committed is kept; the next run completes the job.
    expect((await runJob(p.deps, p.job('stopping'), 'poll')).status).toBe('ok');
    const rows = await mirrorRows(testDb);
    expect(liveTruth(sandbox).every((o) => rows.has(o.id))).toBe(true);
  }, 60_000);
});
