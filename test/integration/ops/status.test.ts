import { describe, expect, it } from 'vitest';
import { collectStatus, formatStatus, backfillsInProgress } from '../../../src/cli/status.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { createHeartbeatService } from '../../../src/processes/heartbeat.ts';
import { saveCursor } from '../../../src/polling/cursor-store.ts';
import { acquireLease } from '../../../src/polling/lease-store.ts';
import { insertRun } from '../../../src/polling/run-store.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { switchableDatabase } from '../../helpers/outage.ts';
import { captureLogger, waitFor } from '../webhooks/helpers.ts';

const testDb = useTestDb();

const config = configSchema.parse({
  sandbox: true,
  jobs: [{ name: 'contacts', portalId: 62515, objectType: 'contacts', properties: ['email'] }],
});

/** Every key of a JSON value, at any depth. */
function keys(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keys);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, inner]) => [key, ...keys(inner)]);
  return [];
}

describe('hubsync status', () => {
  it('shows each running process from its heartbeat, and forgets it when it stops', async () => {
    const heartbeat = createHeartbeatService({ db: testDb.db, log: captureLogger().log, id: 'host-a:4242:abcd', role: 'worker', version: '9.9.9', intervalMs: 1_000 });
    await heartbeat.start();
    try {
      const status = await waitFor(async () => {
        const s = await collectStatus(testDb.db, config, captureLogger().log);
        return s.processes.length > 0 ? s : undefined;
      });
      expect(status.processes).toEqual([expect.objectContaining({ id: 'host-a:4242:abcd', role: 'worker', pid: process.pid, version: '9.9.9' })]);
      expect(formatStatus(status)).toMatch(/Processes\n {2}worker {2}\S+:\d+ hubsync 9\.9\.9, up since /);
      expect(heartbeat.readiness()).toEqual({ ok: true, reasons: [] });
    } finally {
      await heartbeat.stop();
    }
    expect((await collectStatus(testDb.db, config, captureLogger().log)).processes).toEqual([]);
  });

  it("reads the processes without writing; a living process's beat deletes the rows of processes silent for a day", async () => {
    const dead = { role: 'worker', host: 'host-z', pid: 1, version: '1', started_at: new Date(Date.now() - 3 * 86_400_000) };
    await testDb.db.insertInto('hubsync_processes').values([
      { ...dead, id: 'host-z:1:old', last_seen_at: new Date(Date.now() - 2 * 86_400_000) },
      { ...dead, id: 'host-z:2:recent', last_seen_at: new Date(Date.now() - 3_600_000) },
    ]).execute();
    await collectStatus(testDb.db, config, captureLogger().log);
    const ids = async () => (await testDb.db.selectFrom('hubsync_processes').select('id').orderBy('id').execute()).map((r) => r.id);
    expect(await ids()).toEqual(['host-z:1:old', 'host-z:2:recent']);
    const heartbeat = createHeartbeatService({ db: testDb.db, log: captureLogger().log, id: 'host-y:9:live', role: 'worker', version: '1', intervalMs: 1_000 });
    await heartbeat.start();
    try {
      await waitFor(async () => !(await ids()).includes('host-z:1:old'));
      expect(await ids()).toEqual(['host-y:9:live', 'host-z:2:recent']);
    } finally {
      await heartbeat.stop();
      await testDb.db.deleteFrom('hubsync_processes').execute();
    }
  });

  it('names the process holding each job lease, and says when that process has no heartbeat', async () => {
    const heartbeat = createHeartbeatService({ db: testDb.db, log: captureLogger().log, id: 'host-c:77:live', role: 'worker', version: '1', intervalMs: 1_000 });
    await heartbeat.start();
    const now = new Date();
    try {
      expect(await acquireLease(testDb.db, 'poll:contacts', 'host-c:77:live', now, 60_000)).toBe(true);
      expect(await acquireLease(testDb.db, 'sweep:contacts', 'host-d:88:gone', now, 60_000)).toBe(true);
      // Neither an expired lease nor another kind's (the journal's) is the job's.
      expect(await acquireLease(testDb.db, 'associations:contacts', 'host-e:99:old', new Date(now.getTime() - 120_000), 60_000)).toBe(true);
      expect(await acquireLease(testDb.db, 'journal:contacts', 'host-c:77:live', now, 60_000)).toBe(true);
      const status = await waitFor(async () => {
        const s = await collectStatus(testDb.db, config, captureLogger().log, new Date(now.getTime() + 1_000));
        return s.processes.length > 0 ? s : undefined;
      });
      expect(status.jobs[0]!.leases).toEqual([
        { kind: 'poll', owner: 'host-c:77:live', acquiredAt: now.toISOString(), expiresAt: new Date(now.getTime() + 60_000).toISOString() },
        { kind: 'sweep', owner: 'host-d:88:gone', acquiredAt: now.toISOString(), expiresAt: new Date(now.getTime() + 60_000).toISOString() },
      ]);
      const text = formatStatus(status);
      expect(text).toContain(`\n    poll running on worker ${status.processes[0]!.host}:${process.pid} since ${now.toISOString()}\n`);
      expect(text).toContain(`\n    sweep held by host-d:88:gone since ${now.toISOString()}, which has no heartbeat (its lease expires ${new Date(now.getTime() + 60_000).toISOString()})\n`);
      // The demo's closing report: from the webhook inbox on, however many lines the leases add to the jobs.
      const tail = formatStatus(status, { withoutHead: true });
      expect(tail.startsWith('\nWebhook inbox\n')).toBe(true);
      expect(text.endsWith(tail)).toBe(true);
    } finally {
      await heartbeat.stop();
      await testDb.db.deleteFrom('job_leases').execute();
    }
  });

  it('counts the journal in for a custom object a job names by its name, under the type id the mirror keys it by', async () => {
    const withJournal = configSchema.parse({
      hubspot: {
        baseUrl: 'http://127.0.0.1:1',
        accounts: [{ portalId: 62515, accessToken: 'pat-test' }],
        journal: { clientId: 'id', clientSecret: 'journal-secret', requestTimeoutMs: 1_000 },
      },
      jobs: [{ name: 'projects', portalId: 62515, objectType: 'p_projects', properties: ['name'] }],
    });
    const now = new Date();
    await saveCursor(testDb.db, { jobName: 'projects', portalId: 62515, objectType: '2-3465', mode: 'incremental', backfillAfter: null, backfillStartedAt: null, cursorTs: now.getTime(), cursorId: '1', cursorTsComplete: true, rescanFrom: null }, now);
    const at = new Date(now.getTime() - 5_000);
    await testDb.db.insertInto('change_ledger').values({
      portal_id: 62515, object_type: '2-3465', object_id: '7', property: 'name', occurred_at: at, first_seen_via: 'journal', first_seen_at: at,
      seen_by_journal_at: at, seen_by_webhook_at: null, seen_by_poll_at: null, seen_by_hydration_at: null, seen_by_workflow_at: null, seen_by_paragon_at: null,
    }).execute();
    try {
      const status = await collectStatus(testDb.db, withJournal, captureLogger().log, now);
      expect(status.coverage.journal).toMatchObject({ groups: ['62515/2-3465'], total: { seen: 1 } });
      expect(formatStatus(status)).not.toContain('not subscribed');
    } finally {
      await testDb.db.deleteFrom('change_ledger').execute();
      await testDb.db.deleteFrom('sync_cursors').execute();
    }
  });

  it("fails the process's readiness once its heartbeat cannot be written", async () => {
    const outage = switchableDatabase(testDb.db);
    const heartbeat = createHeartbeatService({ db: outage.db, log: captureLogger().log, id: 'host-b:1:x', role: 'all', version: '1', intervalMs: 20 });
    await heartbeat.start();
    try {
      const verdict = await waitFor(() => (heartbeat.readiness().ok ? undefined : heartbeat.readiness()));
      expect(verdict.reasons[0]).toMatch(/^no heartbeat written for \d+ s/);
    } finally {
      await heartbeat.stop();
    }
  });

  it('prints JSON in one casing, with a running backfill’s total, percentage and ETA', async () => {
    const startedAt = new Date(Date.now() - 10_000);
    const id = await insertRun(testDb.db, { jobName: 'contacts', portalId: 62515, objectType: 'contacts', kind: 'backfill', worker: 'w', startedAt });
    await testDb.db.updateTable('sync_runs').set({ records: 400, total: 1000 }).where('id', '=', id).execute();
    const status = await collectStatus(testDb.db, config, captureLogger().log, new Date(startedAt.getTime() + 10_000));
    expect(keys(JSON.parse(JSON.stringify(status))).filter((key) => !/^[a-z][A-Za-z0-9]*$/.test(key))).toEqual([]);
    expect(status.jobs[0]!.lastRun).toMatchObject({ kind: 'backfill', status: 'running', records: 400, total: 1000, percent: 40, etaSeconds: 15 });
    expect(formatStatus(status)).toContain('last run running (backfill, 400/1000 records, 40%, ETA 15 s,');
    // The demo's live view shows it too.
    expect(backfillsInProgress(status.jobs)).toEqual(['contacts backfill 400/1000 records, 40%, ETA 15 s']);
  });
});
