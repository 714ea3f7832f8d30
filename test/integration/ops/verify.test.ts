import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Context } from '../../../src/cli/context.ts';
import { runVerify } from '../../../src/cli/verify.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { resolveJobTypes } from '../../../src/polling/job-types.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { createVerifyService } from '../../../src/verify/service.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { PORTAL, TOKEN, poller, pollingConfig } from '../polling/harness.ts';

const WINDOW_LIMIT = 10;
const SHARE = 0.5;
let sandbox: Sandbox;
const testDb = useTestDb();
/** Every CRM API request the stand-in took (when it arrived, as its limiter counts) and the statuses it answered. */
const requests: number[] = [];
const statuses: number[] = [];
let contacts: string[];

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.05,
    hubspot: { accounts: [{ portalId: PORTAL, accessToken: TOKEN, tier: 'professional', limits: { perTenSeconds: WINDOW_LIMIT } }] },
    plugins: [
      (app) => {
        app.addHook('onRequest', async (req) => {
          if (req.url.startsWith('/crm')) requests.push(Date.now());
        });
        app.addHook('onResponse', async (req, reply) => {
          if (req.url.startsWith('/crm')) statuses.push(reply.statusCode);
        });
      },
    ],
  });
  const at = Date.now() - 3_600_000;
  contacts = sandbox.hubspot.seed({ objectType: 'contacts', count: 250, at });
  const companies = sandbox.hubspot.seed({ objectType: 'companies', count: 20, at });
  contacts.forEach((id, i) => sandbox.hubspot.associate('contacts', id, 'companies', companies[i % 20]!, { at, silent: true }));
});

afterAll(async () => {
  await sandbox?.close();
});

function context() {
  const config = pollingConfig(
    sandbox.baseUrl,
    [
      { name: 'contacts', objectType: 'contacts', properties: ['email', 'firstname', 'lastname'], associations: ['companies'], lookbackSeconds: 0 },
      { name: 'companies', objectType: 'companies', properties: ['name', 'domain'], associations: ['contacts'], lookbackSeconds: 0 },
    ],
    { windowLimit: WINDOW_LIMIT, budgetShare: SHARE },
  );
  const log = pino({ level: 'silent' });
  const ctx: Context = { config, configPath: 'test', log, env: {} };
  return ctx;
}

async function verify(options: { job?: string; sample: number; associations: boolean }) {
  let out = '';
  const code = await runVerify(context(), testDb, options, (text) => void (out += text));
  return { code, out };
}

describe(`hubsync verify on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('finds no drift once the mirror has converged, and the drift a test makes behind its back; within its budget share', async () => {
    const ctx = context();
    const p = poller(testDb, sandbox, ctx.config);
    for (const job of await resolveJobTypes(ctx.config.jobs, p.accounts.types)) expect((await runJob(p.deps, job, 'poll')).status).toBe('ok');
    p.accounts.close();

    requests.length = 0;
    statuses.length = 0;
    const clean = await verify({ sample: 300, associations: true });
    expect(clean.out).toContain('no drift');
    expect(clean.out).toMatch(/contacts \(62515\/contacts\): 250 compared with associations to companies, 0 changed too recently to judge, 0 drifted/);
    expect(clean.code).toBe(0);

    // Never more than its share of the window, and never a 429.
    const windowMs = sandbox.clock.scale(10_000);
    expect(requests.length).toBeGreaterThan(WINDOW_LIMIT * SHARE);
    expect(statuses.filter((s) => s === 429)).toEqual([]);
    for (const at of requests) expect(requests.filter((o) => o > at - windowMs && o <= at).length).toBeLessThanOrEqual(WINDOW_LIMIT * SHARE);

    // Behind the mirror's back: a changed value, an edge dropped, a deleted record brought back, a person's data left after HubSpot erased it.
    const [a, b, c, d] = contacts as [string, string, string, string];
    await sql`update hubspot_objects set properties = properties || '{"email": "tampered@example.com"}' where object_type = 'contacts' and object_id = ${a}`.execute(testDb.db);
    await sql`update hubspot_associations set removed = true where from_object_type = 'contacts' and from_object_id = ${b}`.execute(testDb.db);
    sandbox.hubspot.archive('contacts', c, { silent: true });
    sandbox.hubspot.privacyDelete(d, { silent: true });
    const drifted = await verify({ job: 'contacts', sample: 300, associations: true });
    expect(drifted.code).toBe(1);
    expect(drifted.out).toContain('4 drifted');
    for (const [id, kind] of [[a, 'property'], [b, 'associations'], [c, 'deleted'], [d, 'erased']] as const) expect(drifted.out).toContain(`contacts/${id} ${kind}`);
    expect(drifted.out).toContain('drift: 4 records differ from HubSpot');

    // The worker's periodic form: the same drift in the mirror.drift gauge of the metrics line.
    const worker = poller(testDb, sandbox, ctx.config);
    const jobs = (await resolveJobTypes(ctx.config.jobs, worker.accounts.types)).filter((job) => job.name === 'contacts');
    const service = createVerifyService({ db: testDb.db, accounts: worker.accounts, jobs, config: { intervalMinutes: 60, sample: 300 }, log: pino({ level: 'silent' }), metrics: worker.metrics });
    expect(await service.verifyOnce()).toBe(4);
    expect(worker.metrics.snapshot().gauges['mirror.drift{job=contacts}']).toBe(4);
    worker.accounts.close();
  });
});
