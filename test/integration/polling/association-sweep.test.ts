import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConvergence } from '../../../src/cli/convergence.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { resolveJobTypes } from '../../../src/polling/job-types.ts';
import { startSandbox, type Sandbox } from '../../../src/sandbox/index.ts';
import { serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { PORTAL, TOKEN, poller, pollingConfig } from './harness.ts';

let sandbox: Sandbox;
const testDb = useTestDb();
/** The sweep's batch reads of live contacts, and what the test does when one arrives. */
let reads = 0;
let onRead: (() => void) | undefined;
let contacts: string[];
let companies: string[];

beforeAll(async () => {
  sandbox = await startSandbox({
    timeScale: 0.05,
    hubspot: { accounts: [{ portalId: PORTAL, accessToken: TOKEN, tier: 'professional' }] },
    plugins: [
      (app) => {
        app.addHook('onRequest', async (req) => {
          if (req.method === 'POST' && req.url.startsWith('/crm/v3/objects/contacts/batch/read') && !req.url.includes('archived=true')) {
            reads++;
            onRead?.();
          }
        });
      },
    ],
  });
  const at = Date.now() - 3_600_000;
  contacts = sandbox.hubspot.seed({ objectType: 'contacts', count: 250, at });
  companies = sandbox.hubspot.seed({ objectType: 'companies', count: 10, at });
  contacts.forEach((id, i) => sandbox.hubspot.associate('contacts', id, 'companies', companies[i % 10]!, { at, silent: true }));
});

afterAll(async () => {
  await sandbox?.close();
});

describe(`the association sweep on ${serverUrl ? 'Postgres' : 'PGlite'}`, () => {
  it('finds edges changed without any object change, and resumes where it stopped instead of starting over', async () => {
    const config = pollingConfig(sandbox.baseUrl, [{ name: 'contacts', objectType: 'contacts', properties: ['email'], associations: ['companies'] }]);
    const p = poller(testDb, sandbox, config);
    try {
      const [job] = await resolveJobTypes(config.jobs, p.accounts.types);
      expect((await runJob(p.deps, job!, 'poll')).status).toBe('ok');
      const converged = async () => (await checkConvergence(testDb.db, sandbox.hubspot.truth(PORTAL), [job!])).mismatches;
      expect(await converged()).toEqual([]);

      // Edges change with no webhook and no change to the objects (a poll finds nothing new).
      for (const id of contacts.filter((_, i) => i % 25 === 3)) {
        sandbox.hubspot.associate('contacts', id, 'companies', companies[Number(id) % 10]!, { silent: true, remove: true });
        sandbox.hubspot.associate('contacts', id, 'companies', companies[(Number(id) + 5) % 10]!, { silent: true });
      }
      expect((await runJob(p.deps, job!, 'poll')).status).toBe('ok');
      expect((await converged()).map((m) => m.what).filter((w) => w.startsWith('association')).length).toBeGreaterThan(0);

      // The sweep is stopped as it reads its second chunk.
      const stop = new AbortController();
      reads = 0;
      onRead = () => reads === 2 && stop.abort();
      const stopped = await runJob({ ...p.deps, signal: stop.signal }, job!, 'associations');
      expect(stopped.status).toBe('aborted');
      const position = await testDb.db.selectFrom('sync_sweeps').selectAll().where('job_name', '=', 'contacts').executeTakeFirstOrThrow();
      expect(position.finished_at).toBeNull();
      expect(position.after_id).not.toBeNull();
      const left = contacts.filter((id) => id > position.after_id!).length;
      expect(left).toBeLessThan(contacts.length);

      // The next run reads only what was left, in chunks of 100, and the mirror has every edge.
      onRead = undefined;
      reads = 0;
      expect((await runJob(p.deps, job!, 'associations')).status).toBe('ok');
      expect(reads).toBe(Math.ceil(left / 100));
      expect(await converged()).toEqual([]);
      const done = await testDb.db.selectFrom('sync_sweeps').selectAll().where('job_name', '=', 'contacts').executeTakeFirstOrThrow();
      expect(done.finished_at).not.toBeNull();
    } finally {
      p.accounts.close();
    }
  });
});
