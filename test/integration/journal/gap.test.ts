import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, formatStatus } from '../../../src/cli/status.ts';
import { journalCollector, journalStatus } from '../../../src/journal/status.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import type { Service } from '../../../src/loop.ts';
import type { PollingService } from '../../../src/polling/scheduler.ts';
import { SANDBOX_APP_ID } from '../../../src/sandbox/cli.ts';
import type { SandboxDaemon } from '../../helpers/daemon.ts';
import { waitFor } from '../webhooks/helpers.ts';
import { log, mismatches, PORTAL, startJournalDaemon } from './harness.ts';

let running: SandboxDaemon;

beforeAll(async () => {
  // No webhook app is connected: push delivers nothing, polling runs at start and when asked.
  running = await startJournalDaemon({ seed: 4 });
});

afterAll(async () => {
  await running?.close();
});

describe('a journal consumer down longer than the journal keeps events', () => {
  it('records the gap, polling re-reads its range, reading starts over, and the mirror converges', async () => {
    const { sandbox, daemon, handle } = running;
    const hs = sandbox.sandbox.hubspot;
    const config = sandbox.config;
    const polling = daemon.services.find((s) => s.name === 'polling') as PollingService;
    const consumer = daemon.services.find((s) => s.name === 'journal-consumer:global') as Service;
    await waitFor(() => hs.journal.subscriptions(SANDBOX_APP_ID).length === 7);
    let at = Date.now();
    const tick = () => (at = Math.max(at + 1, Date.now()));
    const converged = async () => (await mismatches(handle.db, sandbox.sandbox, config.jobs)).mismatches.length === 0;

    // Read by the journal as they happen.
    for (let i = 0; i < 15; i++) hs.create('contacts', { email: `c${i}@example.com`, firstname: `C${i}` }, { at: tick() });
    for (let i = 0; i < 4; i++) hs.create('companies', { name: `Co ${i}`, domain: `co${i}.example` }, { at: tick() });
    const ops = hs.runStream({ seed: 21, count: 120, portalId: PORTAL, startAt: tick(), stepMs: 1 });
    at += ops.length;
    await waitFor(converged, 30_000);

    // The consumer stops; HubSpot keeps writing. A poll runs while the search index lags behind
    // those changes (longer than the job's look-back, 0 here), so its cursor moves past them unseen.
    await consumer.stop();
    const offset = (await journalStatus(handle.db)).journals[0]!.offset;
    const contacts = hs.truth(PORTAL)[0]!.objects.filter((o) => o.objectType === 'contacts' && !o.archived && !o.mergedInto && !o.privacyDeleted);
    const companies = hs.truth(PORTAL)[0]!.objects.filter((o) => o.objectType === 'companies' && !o.archived && !o.mergedInto);
    hs.setIndexLag(60_000);
    for (const [i, c] of contacts.slice(0, 10).entries()) hs.update('contacts', c.id, { firstname: `Lost ${i}` }, { at: tick() });
    hs.archive('contacts', contacts[10]!.id, { at: tick() });
    hs.create('contacts', { email: 'made-in-the-gap@example.com', firstname: 'Gap' }, { at: tick() });
    hs.merge('companies', companies[0]!.id, companies[1]!.id, { at: tick() });
    // Changes made after them are visible at once, and take the polls' cursors past them.
    hs.setIndexLag(0);
    hs.update('contacts', contacts[12]!.id, { lastname: 'Seen' }, { at: tick() });
    hs.update('companies', companies[2]!.id, { industry: 'SEEN' }, { at: tick() });
    await hs.journal.idle();
    while (Date.now() <= at) await new Promise((r) => setTimeout(r, 5));
    for (const job of ['contacts', 'companies']) expect((await polling.runNow(job))?.status).toBe('ok');
    // The index catches up (60 s of HubSpot time, scaled).
    const visible = Date.now() + 700;
    // The journal's window passes over what was not read.
    hs.journal.expireAll();
    // After the outage: readable again.
    hs.update('contacts', contacts[11]!.id, { lastname: 'After' }, { at: tick() });
    await hs.journal.idle();

    await consumer.start();
    const gap = await waitFor(async () => (await journalStatus(handle.db)).gaps[0], 20_000);
    expect(gap).toMatchObject({ journal: 'global', lostOffset: offset, jobs: ['contacts', 'companies'] });
    expect(gap.until.getTime()).toBeGreaterThan(gap.since.getTime());
    const rescans = await handle.db.selectFrom('sync_rescans').selectAll().execute();
    expect(rescans.map((r) => [r.job_name, r.done_at])).toEqual([['contacts', null], ['companies', null]]);
    // What came after the outage is read from the journal again.
    await waitFor(async () => {
      const row = await handle.db.selectFrom('hubspot_objects').select('properties').where('object_id', '=', contacts[11]!.id).where('object_type', '=', 'contacts').executeTakeFirst();
      return row?.properties.lastname === 'After';
    });
    expect(await converged()).toBe(false);

    while (Date.now() < visible) await new Promise((r) => setTimeout(r, 20));
    // Polling's cursors are past the gap, but the next poll of each job re-reads its range (and
    // sweeps archived records, as search never shows them): converged.
    for (const job of ['contacts', 'companies']) expect((await polling.runNow(job))?.status).toBe('ok');
    const result = await mismatches(handle.db, sandbox.sandbox, config.jobs);
    expect(result.mismatches).toEqual([]);
    expect((await handle.db.selectFrom('sync_rescans').select('done_at').execute()).every((r) => r.done_at !== null)).toBe(true);

    // Status and the metrics line show it.
    const status = await collectStatus(handle.db, config, log);
    expect(status.journal).toMatchObject({ gapsLast24h: 1, subscriptions: { inSync: 7, toCreate: 0, conflicts: [] } });
    expect(formatStatus(status)).toMatch(/gaps in the last 24 h: 1\n.*may be missing; polling re-reads them \(contacts, companies\)/);
    const metrics = new Metrics();
    await journalCollector(handle.db)(metrics, new Date());
    expect(metrics.snapshot().gauges['journal.gaps_24h']).toBe(1);
  }, 90_000);
});
