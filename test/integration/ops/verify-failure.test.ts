import { sql } from 'kysely';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.ts';
import type { HubSpotAccount, HubSpotAccounts } from '../../../src/hubspot/client.ts';
import type { HubSpotObject } from '../../../src/hubspot/objects.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { createVerifyService } from '../../../src/verify/service.ts';
import { VerifyFailed, verifyJob } from '../../../src/verify/verify.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';

const testDb = useTestDb();

beforeAll(async () => {
  await sql`
    insert into hubspot_objects (portal_id, object_type, object_id, properties, first_seen_via, first_seen_at, updated_at)
    select 5, t, i::text, jsonb_build_object('name', t || i), 'poll', now(), now()
    from generate_series(1, 3) i, unnest(array['contacts', 'companies']) t`.execute(testDb.db);
});

const jobs = configSchema.parse({
  hubspot: { accounts: [{ portalId: 5, accessToken: 'pat-x' }] },
  jobs: [
    { name: 'contacts', portalId: 5, objectType: 'contacts', properties: ['name'] },
    { name: 'companies', portalId: 5, objectType: 'companies', properties: ['name'] },
  ],
}).jobs;

const old = new Date(Date.now() - 86_400_000).toISOString();
const live = (id: string, type: string): HubSpotObject => ({ id, properties: { name: `${type}${id}`, lastmodifieddate: old, hs_lastmodifieddate: old }, updatedAt: old });

/** An account whose batch reads fail for `failing` types (live reads, or only the archived read of what is missing). */
function account(failing: Record<string, 'live' | 'archived'>): HubSpotAccounts {
  const hubspot = {
    async batchRead(objectType: string, ids: readonly string[], _properties: unknown, _priority: unknown, opts?: { archived?: boolean }) {
      const fails = failing[objectType];
      if (fails === 'live' || (fails === 'archived' && opts?.archived)) return { ok: false, failure: 'network', message: 'connection reset' } as const;
      // The archived-failing type answers its live read with one id missing, so the archived read is needed.
      const present = fails === 'archived' ? ids.slice(1) : ids;
      return { ok: true, value: { results: opts?.archived ? [] : present.map((id) => live(id, objectType)), missing: opts?.archived ? [...ids] : ids.filter((id) => !present.includes(id)) } } as const;
    },
  } as unknown as HubSpotAccount;
  return { get: (portalId: number) => (portalId === 5 ? hubspot : undefined) } as unknown as HubSpotAccounts;
}

describe(`verify when HubSpot cannot be read, on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('fails the job with what could not be read instead of reporting drift or none', async () => {
    const [contacts] = jobs;
    await expect(verifyJob(testDb.db, account({ contacts: 'live' }).get(5)!, contacts!, { sample: 10, associations: false })).rejects.toThrow(
      new VerifyFailed('batch read of contacts: network: connection reset'),
    );
    await expect(verifyJob(testDb.db, account({ contacts: 'archived' }).get(5)!, contacts!, { sample: 10, associations: false })).rejects.toBeInstanceOf(VerifyFailed);
  });

  it('in the worker: a job whose read fails is skipped until the next interval, the others are still verified', async () => {
    const metrics = new Metrics();
    const service = createVerifyService({ db: testDb.db, accounts: account({ contacts: 'live' }), jobs, config: { intervalMinutes: 60, sample: 10 }, log: pino({ level: 'silent' }), metrics });
    expect(await service.verifyOnce()).toBe(0);
    const gauges = metrics.snapshot().gauges;
    expect(gauges['mirror.drift{job=companies}']).toBe(0);
    expect(gauges['mirror.drift{job=contacts}']).toBeUndefined();
    // A job verified before whose read then fails loses its figure (it would stand for a mirror no one compared) and counts a failure.
    const recovered = createVerifyService({ db: testDb.db, accounts: account({}), jobs, config: { intervalMinutes: 60, sample: 10 }, log: pino({ level: 'silent' }), metrics });
    await recovered.verifyOnce();
    expect(metrics.snapshot().gauges['mirror.drift{job=contacts}']).toBe(0);
    await service.verifyOnce();
    expect(metrics.snapshot().gauges['mirror.drift{job=contacts}']).toBeUndefined();
    expect(metrics.counter('verify.failures', { job: 'contacts' })).toBe(2);
    // The companies job was compared, not left out as in flight.
    expect(await verifyJob(testDb.db, account({}).get(5)!, jobs[1]!, { sample: 10, associations: false })).toMatchObject({ compared: 3, inFlight: 0, drifted: 0 });
  });
});
