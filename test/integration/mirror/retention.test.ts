import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { applyObservations } from '../../../src/mirror/apply.ts';
import type { Observation } from '../../../src/mirror/observation.ts';
import { createLedgerRetention } from '../../../src/mirror/retention.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 11, 5, 12);
const testDb = useTestDb();

/** `count` property changes of one object, `ageHours` old. */
function changes(portalId: number, objectType: string, objectId: string, ageHours: number, count: number): Observation[] {
  return Array.from({ length: count }, (_, i) => ({
    kind: 'propertyChange' as const,
    ref: { portalId, objectType, objectId },
    property: 'name',
    value: `v${ageHours}-${i}`,
    version: NOW - ageHours * HOUR + i,
    via: 'webhook' as const,
    seenAt: new Date(NOW - ageHours * HOUR + i + 500),
  }));
}

const ledgerRows = async () =>
  (
    await testDb.db.selectFrom('change_ledger').select(['portal_id', 'object_type', 'occurred_at']).orderBy('portal_id').orderBy('object_type').orderBy('occurred_at').execute()
  ).map((r) => `${r.portal_id}/${r.object_type}/${(NOW - r.occurred_at.getTime()) / HOUR >= 720 ? 'old' : 'recent'}`);

describe('change ledger retention', () => {
  it('deletes changes older than the retention in every portal and object type, batch by batch, and keeps the rest', async () => {
    await testDb.db.transaction().execute((trx) =>
      applyObservations(trx, [
        ...changes(1, 'contacts', '1', 800, 9),
        ...changes(1, 'contacts', '2', 24, 3),
        ...changes(1, 'deals', '7', 1000, 4),
        ...changes(2, 'contacts', '1', 721, 6),
        ...changes(2, 'contacts', '3', 719, 2),
        ...changes(2, 'tickets', '5', 2, 1),
      ]),
    );
    const retention = createLedgerRetention({ db: testDb.db, log: pino({ level: 'silent' }), retentionHours: 720, batchSize: 4, now: () => NOW });
    expect(await retention.pruneOnce()).toBe(9 + 4 + 6);
    expect(await ledgerRows()).toEqual([
      ...Array(3).fill('1/contacts/recent'),
      ...Array(2).fill('2/contacts/recent'),
      '2/tickets/recent',
    ]);
    expect(await retention.pruneOnce()).toBe(0);
    // The mirror itself keeps every object's newest values.
    const objects = await testDb.db.selectFrom('hubspot_objects').select('object_id').execute();
    expect(objects).toHaveLength(6);
  });

  it('as a service prunes at start and stops at once; with retention 0 it never deletes', async () => {
    await testDb.db.transaction().execute((trx) => applyObservations(trx, changes(3, 'companies', '9', 900, 2)));
    const off = createLedgerRetention({ db: testDb.db, log: pino({ level: 'silent' }), retentionHours: 0, now: () => NOW });
    await off.start();
    await off.stop();
    const service = createLedgerRetention({ db: testDb.db, log: pino({ level: 'silent' }), retentionHours: 720, intervalMs: 60_000, now: () => NOW });
    const count = async () => (await testDb.db.selectFrom('change_ledger').select('object_id').where('portal_id', '=', 3).execute()).length;
    expect(await count()).toBe(2);
    await service.start();
    for (let i = 0; i < 100 && (await count()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    await service.stop();
    expect(await count()).toBe(0);
  });
});
