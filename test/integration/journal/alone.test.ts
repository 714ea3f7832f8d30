import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus } from '../../../src/cli/status.ts';
import type { PollingService } from '../../../src/polling/scheduler.ts';
import { SANDBOX_APP_ID } from '../../../src/sandbox/cli.ts';
import type { SandboxDaemon } from '../../helpers/daemon.ts';
import { waitFor } from '../webhooks/helpers.ts';
import { log, mismatches, PORTAL, startJournalDaemon } from './harness.ts';

let running: SandboxDaemon;

beforeAll(async () => {
  // Every push webhook is dropped; polling runs once an hour.
  running = await startJournalDaemon({ seed: 6, webhookDropRate: 1 });
});

afterAll(async () => {
  await running?.close();
});

/** Live contact–company edges among objects never merged or privacy-deleted, as unordered pairs. */
function pairs(edges: readonly { a: string; b: string }[]): string[] {
  return [...new Set(edges.map(({ a, b }) => (a < b ? `${a}|${b}` : `${b}|${a}`)))].sort();
}

describe('with every push webhook dropped and search polling hourly', () => {
  it('the journal alone keeps the mirror converged: values, creations, deletions, restores, merges, privacy deletions and associations', async () => {
    const { sandbox, daemon, handle } = running;
    const hs = sandbox.sandbox.hubspot;
    const config = sandbox.config;
    const polling = daemon.services.find((s) => s.name === 'polling') as PollingService;
    // The day-old data is the backfill's; then one poll an hour, far away.
    sandbox.connect(daemon.receiverUrl()!);
    for (const job of ['contacts', 'companies']) expect((await polling.runNow(job))?.status).toBe('ok');
    const runs = async () => (await handle.db.selectFrom('sync_runs').select('id').execute()).length;
    const pollRuns = await runs();
    await waitFor(() => hs.journal.subscriptions(SANDBOX_APP_ID).length === 7);

    const ops = hs.runStream({ seed: 46, count: 400, portalId: PORTAL, startAt: Date.now() - 400, stepMs: 1 });
    for (const kind of ['create', 'update', 'delete', 'restore', 'merge', 'privacyDelete', 'associate', 'dissociate']) expect(ops.some((op) => op.kind === kind && ['contacts', 'companies'].includes(op.objectType))).toBe(true);
    await waitFor(async () => (await mismatches(handle.db, sandbox.sandbox, config.jobs)).mismatches.length === 0, 60_000);
    expect(await runs()).toBe(pollRuns);
    expect(hs.deliveries().length).toBeGreaterThan(100);
    expect(hs.deliveries().every((d) => d.dropped)).toBe(true);

    // Associations between live contacts and companies (a merge's survivor included: the mirror moves
    // the merged records' edges to it, as HubSpot does without an event).
    const truth = hs.truth(PORTAL)[0]!;
    const plain = new Set(truth.objects.filter((o) => !o.archived && !o.mergedInto && !o.privacyDeleted).map((o) => `${o.objectType}:${o.id}`));
    const expected = pairs(
      truth.associations
        .filter((a) => [a.fromType, a.toType].sort().join() === 'companies,contacts' && plain.has(`${a.fromType}:${a.fromId}`) && plain.has(`${a.toType}:${a.toId}`))
        .map((a) => ({ a: `${a.fromType}:${a.fromId}`, b: `${a.toType}:${a.toId}` })),
    );
    expect(expected.length).toBeGreaterThan(5);
    const edges = await waitFor(async () => {
      const rows = await handle.db.selectFrom('hubspot_associations').selectAll().where('portal_id', '=', PORTAL).where('removed', '=', false).execute();
      const mirrored = pairs(
        rows
          .filter((r) => [r.from_object_type, r.to_object_type].sort().join() === 'companies,contacts' && plain.has(`${r.from_object_type}:${r.from_object_id}`) && plain.has(`${r.to_object_type}:${r.to_object_id}`))
          .map((r) => ({ a: `${r.from_object_type}:${r.from_object_id}`, b: `${r.to_object_type}:${r.to_object_id}` })),
      );
      return mirrored.length === expected.length ? mirrored : undefined;
    }, 30_000);
    expect(edges).toEqual(expected);

    // Privacy deletions reached the mirror as such: values erased, not just archived.
    const erased = ops.filter((op) => op.kind === 'privacyDelete').map((op) => op.objectId);
    const rows = await handle.db.selectFrom('hubspot_objects').select(['object_id', 'privacy_deleted_at', 'properties']).where('object_type', '=', 'contacts').where('object_id', 'in', erased).execute();
    expect(rows.length).toBe(new Set(erased).size);
    expect(rows.every((r) => r.privacy_deleted_at !== null && Object.keys(r.properties).length === 0)).toBe(true);

    // The report: the journal saw every change since the subscriptions, webhooks none.
    const status = await collectStatus(handle.db, config, log);
    expect(status.coverage.paths).toEqual(['webhook', 'journal', 'poll']);
    const contacts = status.coverage.groups.find((g) => g.objectType === 'contacts')!;
    expect(contacts.paths.journal.coverage).toBe(1);
    expect(contacts.paths.webhook.seen).toBe(0);
  }, 120_000);
});
