import { describe, expect, it } from 'vitest';
import { checkConvergence } from '../../../src/cli/convergence.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { applyObservations } from '../../../src/mirror/apply.ts';
import type { PortalTruth } from '../../../src/sandbox/index.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

const T = Date.UTC(2026, 11, 5);
const contact = (id: string, email: string) => ({
  objectType: 'contacts', objectTypeId: '0-1', id, properties: { email }, propertyVersions: { email: T }, createdAt: T, updatedAt: T,
  archived: false, archivedAt: null, mergedInto: null, privacyDeleted: false,
});

describe('convergence check', () => {
  it('compares a job that names its type as `contact` or `0-1` with the mirror\'s `contacts`', async () => {
    await testDb.db.transaction().execute((trx) =>
      applyObservations(trx, [{ kind: 'snapshot', ref: { portalId: 9, objectType: 'contacts', objectId: '1' }, properties: { email: 'a@example.com' }, version: T, via: 'poll', seenAt: new Date(T) }]),
    );
    const truth: PortalTruth[] = [{ portalId: 9, objects: [contact('1', 'a@example.com'), contact('2', 'b@example.com')], associations: [] }];
    for (const objectType of ['contact', '0-1', 'contacts']) {
      const { jobs } = configSchema.parse({ hubspot: { accounts: [{ portalId: 9, accessToken: 'pat-x' }] }, jobs: [{ name: 'c', portalId: 9, objectType, properties: ['email'] }] });
      const report = await checkConvergence(testDb.db, truth, jobs);
      expect(report).toMatchObject({ ok: false, checked: 2, mismatches: [{ ref: '9/contacts/2', what: expect.stringContaining('missing') }] });
    }
  });

  it('compares the associations of each job\'s pairs between live records, and erased values', async () => {
    const portalId = 10;
    const ref = (objectType: string, objectId: string) => ({ portalId, objectType, objectId });
    const company = { ...contact('7', ''), objectType: 'companies', objectTypeId: '0-2', properties: {} };
    const gdpr = { ...contact('3', 'gone@example.com'), privacyDeleted: true, archived: true, properties: {} };
    await testDb.db.transaction().execute((trx) =>
      applyObservations(trx, [
        { kind: 'snapshot', ref: ref('contacts', '1'), properties: { email: 'a@example.com' }, version: T, via: 'poll', seenAt: new Date(T) },
        { kind: 'snapshot', ref: ref('contacts', '3'), properties: { email: 'gone@example.com' }, version: T, via: 'poll', seenAt: new Date(T) },
        { kind: 'associationRead', ref: ref('contacts', '1'), toObjectType: 'companies', to: [], version: T, via: 'poll', seenAt: new Date(T) },
      ]),
    );
    const truth: PortalTruth[] = [{
      portalId,
      objects: [contact('1', 'a@example.com'), gdpr, company],
      associations: [{ fromType: 'companies', fromTypeId: '0-2', fromId: '7', toType: 'contacts', toTypeId: '0-1', toId: '1' }],
    }];
    const { jobs } = configSchema.parse({ hubspot: { accounts: [{ portalId, accessToken: 'pat-x' }] }, jobs: [{ name: 'c', portalId, objectType: 'contacts', properties: ['email'], associations: ['companies'] }] });
    const report = await checkConvergence(testDb.db, truth, jobs);
    expect(report.associations).toEqual([{ pair: 'contacts → companies', edges: 1 }]);
    expect(report.mismatches.map((m) => [m.ref, m.what])).toEqual([
      ['10/contacts/3', 'privacy deletion (values erased)'],
      ['10/contacts/1 → companies/7', 'association missing from the mirror'],
    ]);
    await testDb.db.transaction().execute((trx) =>
      applyObservations(trx, [
        { kind: 'gone', ref: ref('contacts', '3'), version: T + 1, via: 'poll', seenAt: new Date(T + 1) },
        { kind: 'association', ref: ref('companies', '7'), toObjectType: 'contacts', toObjectId: '1', removed: false, version: T + 1, via: 'webhook', seenAt: new Date(T + 1) },
      ]),
    );
    expect((await checkConvergence(testDb.db, truth, jobs)).mismatches).toEqual([]);
  });
});
