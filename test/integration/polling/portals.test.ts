import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { captureLogger } from './harness.ts';

const A = 1001;
const B = 2002;
const testDb = useTestDb();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.01,
    hubspot: { accounts: [{ portalId: A, accessToken: 'pat-a', tier: 'professional' }, { portalId: B, accessToken: 'pat-b', tier: 'starter' }] },
  });
  sandbox.hubspot.seed({ portalId: A, objectType: 'contacts', count: 300, at: Date.now() - 60_000 });
  sandbox.hubspot.seed({ portalId: B, objectType: 'deals', count: 200, at: Date.now() - 60_000 });
});

afterAll(async () => {
  await sandbox?.close();
});

describe('several portals', () => {
  it('polls each portal through its own budget into its own rows', async () => {
    const config = configSchema.parse({
      hubspot: { baseUrl: sandbox.baseUrl, accounts: [{ portalId: A, accessToken: 'pat-a' }, { portalId: B, accessToken: 'pat-b', tier: 'starter' }] },
      jobs: [
        { name: 'a-contacts', portalId: A, objectType: 'contact', properties: ['email'], lookbackSeconds: 0 },
        { name: 'b-deals', portalId: B, objectType: '0-3', properties: ['dealname'], lookbackSeconds: 0 },
      ],
    });
    const metrics = new Metrics();
    const { log } = captureLogger();
    const accounts = createHubSpotAccounts(config.hubspot, { log, metrics, timeScale: 0.01 });
    const deps = { db: testDb.db, accounts, log, metrics, worker: 'w' };
    // Portal A is rate limited; portal B's calls are not held up by A's pause.
    sandbox.hubspot.failNext({ status: 429, count: 3, policy: 'TEN_SECONDLY_ROLLING', portalId: A });
    const [a, b] = await Promise.all([runJob(deps, config.jobs[0]!, 'poll'), runJob(deps, config.jobs[1]!, 'poll')]);
    expect([a.status, b.status]).toEqual(['ok', 'ok']);
    const counts = await testDb.db
      .selectFrom('hubspot_objects')
      .select(['portal_id', 'object_type', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['portal_id', 'object_type'])
      .orderBy('portal_id')
      .execute();
    expect(counts.map((c) => [c.portal_id, c.object_type, Number(c.n)])).toEqual([[A, 'contacts', 300], [B, 'deals', 200]]);
    const counters = metrics.snapshot().counters;
    expect(counters[`hubspot.api.429s{policy=TEN_SECONDLY_ROLLING,portalId=${A}}`]).toBe(3);
    expect(counters[`hubspot.api.429s{policy=TEN_SECONDLY_ROLLING,portalId=${B}}`]).toBeUndefined();
    expect(accounts.get(A)?.budget.windowRemaining()).toBeGreaterThan(0);
    accounts.close();
  }, 60_000);
});
