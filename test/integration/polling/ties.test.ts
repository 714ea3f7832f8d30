import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../../src/polling/jobs.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { liveTruth, mirrorRows, missingOrStale, PORTAL, poller, pollingConfig } from './harness.ts';

const testDb = useTestDb();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ timeScale: 0.01 });
});

afterAll(async () => {
  await sandbox?.close();
});

describe('cursored search', () => {
  it('mirrors 25,000 records sharing one timestamp exactly once each, and the run ends', async () => {
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'ties', properties: ['email', 'firstname'] }]));
    const job = p.job('ties');
    // First run: an empty portal backfills and turns incremental.
    expect((await runJob(p.deps, job, 'poll')).status).toBe('ok');
    const at = Date.now() + 5;
    while (Date.now() <= at) await new Promise((r) => setTimeout(r, 2));
    sandbox.hubspot.seed({ objectType: 'contacts', count: 25_000, at });
    const outcome = await runJob(p.deps, job, 'poll');
    expect(outcome.status).toBe('ok');
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
    const rows = await mirrorRows(testDb);
    expect(rows.size).toBe(25_000);
    // Each version once: one ledger row per (object, property, version), first seen by the poll.
    const ledger = await testDb.db
      .selectFrom('change_ledger')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.count<number>('object_id').distinct().as('objects')])
      .where('portal_id', '=', PORTAL)
      .where('property', '=', 'email')
      .executeTakeFirstOrThrow();
    expect(Number(ledger.objects)).toBe(25_000);
    expect(Number(ledger.n)).toBe(25_000);
    const run = outcome.status === 'ok' ? outcome.runs.at(-1) : undefined;
    expect(run?.kind).toBe('incremental');
    // The walk did not loop: one range page entering the tie, 125 id pages, and a few closing queries
    // (the empty end of the tie, the range after it, the look-back's start) re-reading one page at most.
    const row = await testDb.db.selectFrom('sync_runs').selectAll().where('id', '=', run?.id ?? -1).executeTakeFirstOrThrow();
    expect(row.records).toBeGreaterThanOrEqual(25_000);
    expect(row.records).toBeLessThanOrEqual(25_000 + 200);
    expect(row.pages).toBeLessThanOrEqual(Math.ceil(25_000 / 200) + 5);
  }, 180_000);

  it('mirrors more than 10,000 changes within one window', async () => {
    // The same job, caught up by the test above: the changes arrive through the search alone.
    const p = poller(testDb, sandbox, pollingConfig(sandbox.baseUrl, [{ name: 'ties', properties: ['email', 'firstname'] }]));
    const job = p.job('ties');
    const ids = liveTruth(sandbox).map((o) => o.id).slice(0, 12_000);
    const start = Date.now() + 10;
    while (Date.now() <= start) await new Promise((r) => setTimeout(r, 2));
    // 12,000 updates in one window (more than a query's 10,000 cap), all after the last run.
    ids.forEach((id, i) => sandbox.hubspot.update('contacts', id, { email: `changed-${i}@example.com` }, { at: start + Math.floor(i / 6), silent: true }));
    // A run reads up to its own start: begin it once every change is in the past.
    while (Date.now() <= start + 2000) await new Promise((r) => setTimeout(r, 20));
    const outcome = await runJob(p.deps, job, 'poll');
    expect(outcome.status === 'ok' && outcome.runs.map((r) => r.kind)).toEqual(['incremental']);
    expect(await missingOrStale(testDb, sandbox)).toEqual([]);
    const rows = await mirrorRows(testDb);
    expect(rows.get(ids[11_999] ?? '')?.properties.email).toBe('changed-11999@example.com');
    // 2,000 timestamps of six records each: a page re-reads at most the six at its last timestamp.
    const run = await testDb.db.selectFrom('sync_runs').selectAll().where('job_name', '=', 'ties').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(run.records).toBeLessThanOrEqual(12_000 + 6 * run.pages);
  }, 180_000);
});
