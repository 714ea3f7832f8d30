import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectStatus, formatStatus } from '../../../src/cli/status.ts';
import { createJournalConsumer, type ConsumerDeps } from '../../../src/journal/consumer.ts';
import { journalApi, journalTargets, journalTokens } from '../../../src/journal/service.ts';
import { syncSubscriptions } from '../../../src/journal/sync.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { waitFor } from '../webhooks/helpers.ts';
import { APP, drainer, journalConfig, log, PORTAL, startJournalSandbox, TIME_SCALE } from './harness.ts';

const testDb = useTestDb();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startJournalSandbox({ seed: 9 });
});

afterAll(async () => {
  await sandbox?.close();
});

describe(`the journal's subscriptions and consumers on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('keeps the subscriptions as configured, touching only its own', async () => {
    const journal = sandbox.hubspot.journal;
    const sync = (raw: Parameters<typeof journalConfig>[1] = {}) => {
      const config = journalConfig(sandbox, raw);
      const api = journalApi(config, config.hubspot.journal!, journalTokens(config, config.hubspot.journal!));
      return syncSubscriptions({ db: testDb.db, api, log, config: { jobs: config.jobs, journal: config.hubspot.journal! } });
    };
    // Someone else's subscription, on a type hubsync does not read: never touched.
    journal.upsert(APP.appId, { subscriptionType: 'OBJECT', portalId: PORTAL, objectTypeId: '0-3', actions: ['CREATE'], properties: [], objectIds: [], associatedObjectTypeIds: [], listIds: [] });
    expect(await sync()).toMatchObject({ created: 7, updated: 0, deleted: 0, failures: [], conflicts: [] });
    // Again: nothing to do.
    expect(await sync()).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 7, filtersChanged: 0 });

    // A filter for companies, then another property for contacts: the subscription is upserted, the filter made.
    const filters = { companies: [[{ property: 'name', operator: 'STARTS_WITH', value: 'Keep' }]] };
    expect(await sync({ journal: { subscriptions: { filters } } })).toMatchObject({ created: 0, updated: 0, filtersChanged: 1, unchanged: 6 });
    const companies = journal.subscriptions(APP.appId).find((s) => s.objectTypeId === '0-2' && s.subscriptionType === 'OBJECT')!;
    expect(companies.filters.map((f) => f.conditions)).toEqual([[{ filterType: 'CRM_OBJECT_PROPERTY', property: 'name', operator: 'STARTS_WITH', value: 'Keep' }]]);
    expect(await sync({ journal: { subscriptions: { filters } } })).toMatchObject({ filtersChanged: 0, unchanged: 7 });

    // Deleted by hand: made again. Associations off: that one goes. The other app's-style deal subscription stays.
    const gdpr = journal.subscriptions(APP.appId).find((s) => s.subscriptionType === 'GDPR_PRIVACY_DELETION')!;
    journal.deleteSubscription(APP.appId, gdpr.id);
    expect(await sync({ journal: { subscriptions: { associations: false } } })).toMatchObject({ created: 1, deleted: 2, failures: [] });
    const types = journal.subscriptions(APP.appId).map((s) => `${s.subscriptionType}:${s.objectTypeId}`).sort();
    expect(types).toEqual(['APP_LIFECYCLE_EVENT:4-1909196', 'APP_LIFECYCLE_EVENT:4-1916193', 'GDPR_PRIVACY_DELETION:0-1', 'OBJECT:0-1', 'OBJECT:0-2', 'OBJECT:0-3']);
    expect((await testDb.db.selectFrom('journal_subscriptions').select('id').execute()).length).toBe(5);

    // A subscription hubsync did not make holds what it wants: reported, left alone.
    const contacts = journal.subscriptions(APP.appId).find((s) => s.subscriptionType === 'OBJECT' && s.objectTypeId === '0-1')!;
    await testDb.db.deleteFrom('journal_subscriptions').where('id', '=', contacts.id).execute();
    const report = await sync({ journal: { subscriptions: { associations: false } } });
    expect(report.conflicts).toEqual([{ key: `OBJECT:${PORTAL}:0-1`, id: contacts.id }]);
    expect(journal.subscriptions(APP.appId).find((s) => s.id === contacts.id)).toEqual(contacts);
  });

  it('one consumer per journal holds its lease; a journal read first at `latest` starts after it; uninstalls show in status', async () => {
    const config = journalConfig(sandbox, { journal: { start: 'latest', pollIntervalMs: 20, leaseSeconds: 5, subscriptions: { associations: false } } });
    const journal = config.hubspot.journal!;
    const tokens = journalTokens(config, journal);
    const target = journalTargets(config, journal)[0]!;
    // History from before hubsync starts reading: left to polling.
    sandbox.hubspot.create('contacts', { email: 'before@example.com' }, { portalId: PORTAL });
    await sandbox.hubspot.journal.idle();
    const deps = (worker: string, metrics: Metrics): ConsumerDeps => ({ db: testDb.db, log, metrics, config: journal, target, api: journalApi(config, journal, tokens, target), jobs: config.jobs, worker });
    const metrics = [new Metrics(), new Metrics()];
    const consumers = [createJournalConsumer(deps('one', metrics[0]!)), createJournalConsumer(deps('two', metrics[1]!))];
    try {
      for (const c of consumers) await c.start();
      await waitFor(() => consumers.some((c) => c.lastOutcome()?.kind === 'caught-up'));
      sandbox.hubspot.create('contacts', { email: 'after@example.com' }, { portalId: PORTAL });
      sandbox.hubspot.journal.setInstalled(APP.appId, 777, true);
      sandbox.hubspot.journal.setInstalled(APP.appId, 777, false);
      await sandbox.hubspot.journal.idle();
      await waitFor(async () => (await testDb.db.selectFrom('webhook_events').select('id').where('source', '=', 'journal').where('subscription_type', '=', 'journal.APP_UNINSTALL').execute()).length === 1);
      // Exactly one of them read anything.
      expect(consumers.filter((c) => c.lastOutcome() !== undefined)).toHaveLength(1);
      expect(metrics.map((m) => m.total('journal.app_uninstalls'))).toContain(1);
      const d = drainer(testDb.db, config, TIME_SCALE);
      try {
        await d.drain();
      } finally {
        d.close();
      }
      const emails = (await testDb.db.selectFrom('webhook_events').select('payload').where('source', '=', 'journal').where('subscription_type', '=', 'journal.CREATE').execute())
        .map((r) => (r.payload.propertyChanges as Record<string, string> | undefined)?.email);
      expect(emails).toContain('after@example.com');
      expect(emails).not.toContain('before@example.com');
      const status = await collectStatus(testDb.db, config, log);
      expect(status.journal?.appEvents.map((e) => `${e.action} ${e.portalId}`).sort()).toEqual(['APP_INSTALL 777', 'APP_UNINSTALL 777']);
      expect(formatStatus(status)).toContain('UNINSTALLED from portal 777');
    } finally {
      for (const c of consumers) await c.stop();
    }
  });
});
