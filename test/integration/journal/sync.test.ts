import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfigObject } from '../../../src/config/load.ts';
import type { Call, JournalApi } from '../../../src/journal/api.ts';
import { syncSubscriptions } from '../../../src/journal/sync.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();
const PREFIX = '/webhooks-journal/subscriptions/2026-03';

/** A HubSpot whose subscription endpoints answer from `routes` (`METHOD path`), recording the calls. */
function fakeApi(routes: Record<string, unknown>): JournalApi & { calls: string[] } {
  const calls: string[] = [];
  const unused = async (): Promise<never> => {
    throw new Error('not a subscription call');
  };
  return {
    calls,
    first: unused,
    next: unused,
    read: unused,
    download: unused,
    async request(method, path): Promise<Call<unknown>> {
      calls.push(`${method} ${path}`);
      const key = `${method} ${path}`;
      return key in routes ? { ok: true, value: routes[key] } : { ok: false, kind: 'failed', status: 500, message: `no route for ${key}` };
    },
  };
}

describe(`journal subscription sync on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('leaves a listed filter HubSpot gave no id alone, and still finishes the sync', async () => {
    const wanted = { property: 'lifecyclestage', operator: 'EQ', value: 'customer' };
    const config = parseConfigObject({
      hubspot: {
        accounts: [{ portalId: 62515, accessToken: 'pat-test' }],
        journal: {
          clientId: 'id', clientSecret: 'secret', apiVersion: '2026-03',
          subscriptions: { associations: false, privacyDeletions: false, appLifecycle: false, filters: { contacts: [[wanted]] } },
        },
      },
      jobs: [
        { name: 'contacts', portalId: 62515, objectType: 'contacts', properties: ['email'], schedule: '0 0 1 1 *' },
      ],
    });
    const api = fakeApi({
      [`GET ${PREFIX}`]: { results: [] },
      [`POST ${PREFIX}`]: { id: 11 },
      // The wanted filter, and another, both listed without an id.
      [`GET ${PREFIX}/filters/subscription/11`]: [
        { filter: { conditions: [{ filterType: 'CRM_OBJECT_PROPERTY', ...wanted }] } },
        { filter: { conditions: [{ filterType: 'CRM_OBJECT_PROPERTY', property: 'email', operator: 'IS_NOT_EMPTY' }] } },
      ],
    });
    const report = await syncSubscriptions({ db: testDb.db, api, log: pino({ level: 'silent' }), config: { jobs: config.jobs, journal: config.hubspot.journal! } });
    // The subscription is made and remembered; the wanted filter is there (not made again); the
    // other cannot be deleted without an id: reported.
    expect(report).toMatchObject({ created: 1, failures: [{ action: 'delete filter on 11', error: 'HubSpot listed a filter without an id' }] });
    expect(api.calls.filter((c) => c.startsWith('POST') || c.startsWith('DELETE'))).toEqual([`POST ${PREFIX}`]);
    const remembered = await testDb.db.selectFrom('journal_subscriptions').select(['key', 'filter_ids']).orderBy('key').execute();
    expect(remembered.map((r) => [r.key, r.filter_ids.map(Number)])).toEqual([['OBJECT:62515:0-1', []]]);
  });
});
