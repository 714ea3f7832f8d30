import { describe, expect, it } from 'vitest';
import { ledgerCollector } from '../../../src/mirror/metrics.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

const T = Date.UTC(2026, 11, 5, 12);

describe('ledger collector', () => {
  it('reports each portal and type over the last hour, and a group gone quiet as no changes, not its old figures', async () => {
    const ref = { portalId: 7, objectType: 'deals', objectId: '1' };
    await testDb.db.transaction().execute((trx) =>
      applyObservations(trx, [
        { kind: 'propertyChange', ref, property: 'amount', value: '1', version: T, via: 'webhook', seenAt: new Date(T + 200) },
        { kind: 'snapshot', ref, properties: { amount: '1', dealname: 'x' }, propertyVersions: { amount: T, dealname: T + 1 }, version: T + 1, via: 'poll', seenAt: new Date(T + 60_000) },
      ]),
    );
    const metrics = new Metrics();
    const collect = ledgerCollector(testDb.db);
    const gauges = () => Object.fromEntries(Object.entries(metrics.snapshot().gauges).filter(([key]) => key.includes('deals')));
    await collect(metrics, new Date(T + 600_000));
    expect(gauges()).toMatchObject({
      'webhook.coverage{objectType=deals,portalId=7}': 0.5,
      'webhook.missed{objectType=deals,portalId=7}': 1,
      'changes.observed{objectType=deals,portalId=7}': 2,
      'webhook.lag_p50_ms{objectType=deals,portalId=7}': 200,
    });
    await collect(metrics, new Date(T + 2 * 3_600_000));
    expect(gauges()).toEqual({ 'webhook.missed{objectType=deals,portalId=7}': 0, 'changes.observed{objectType=deals,portalId=7}': 0 });
  });
});
