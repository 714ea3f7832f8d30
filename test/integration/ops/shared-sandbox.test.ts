import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRunningSandbox } from '../../../src/cli/sandbox-mode.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';
import { consumeStep } from '../../../src/journal/consumer.ts';
import { journalApi, journalTargets, journalTokens } from '../../../src/journal/service.ts';
import { syncSubscriptions } from '../../../src/journal/sync.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { runJob } from '../../../src/polling/jobs.ts';
import { runSandboxCommand } from '../../../src/sandbox/cli.ts';
import { generateSigningKeyPair, type Sandbox } from '../../../src/sandbox/index.ts';
import { finished, runCli, startCli, waitForOutput } from '../../helpers/cli.ts';
import { createServerDatabase, dropServerDatabase, serverUrl } from '../../helpers/db.ts';
import { useTestDb } from '../../helpers/use-db.ts';
import { tempDir } from '../../helpers/temp.ts';
import { captureLogger } from '../webhooks/helpers.ts';

const testDb = useTestDb();
let standalone: Sandbox;
beforeAll(async () => {
  standalone = await runSandboxCommand({ seed: 3, timeScale: 0.05, streamIntervalMs: 0, print: () => undefined });
});
afterAll(async () => {
  await standalone?.close();
});

describe('sandboxOptions.url', () => {
  it('points a process at a stand-in already running, whose data its polling reads', async () => {
    const config = configSchema.parse({
      sandbox: true,
      sandboxOptions: { url: standalone.baseUrl },
      jobs: [{ name: 'contacts', portalId: 62515, objectType: 'contacts', properties: ['email'] }],
    });
    const { log } = captureLogger();
    const shared = useRunningSandbox(config, log);
    expect(shared.config.hubspot.baseUrl).toBe(standalone.baseUrl);
    const accounts = createHubSpotAccounts(shared.config.hubspot, { log, metrics: new Metrics(), timeScale: 0.05 });
    try {
      const outcome = await runJob({ db: testDb.db, accounts, log, worker: 'shared-test' }, shared.config.jobs[0]!, 'poll');
      expect(outcome.status).toBe('ok');
      const rows = await testDb.db.selectFrom('hubspot_objects').select('object_id').where('object_type', '=', 'contacts').execute();
      // The standalone stand-in's seeded contacts (200, and the changes made since), not an empty stand-in of its own.
      expect(rows.length).toBeGreaterThanOrEqual(200);
    } finally {
      accounts.close();
    }
  });
  it('reads the running stand-in\'s Webhooks Journal with its app, whatever credentials the file names', async () => {
    const config = configSchema.parse({
      sandbox: true,
      sandboxOptions: { url: standalone.baseUrl },
      hubspot: { journal: { clientId: 'sandbox', clientSecret: 'sandbox' } },
      jobs: [{ name: 'contacts', portalId: 62515, objectType: 'contacts', properties: ['email'] }],
    });
    const { log } = captureLogger();
    const { config: shared } = useRunningSandbox(config, log);
    const journal = shared.hubspot.journal!;
    const tokens = journalTokens(shared, journal);
    const report = await syncSubscriptions({ db: testDb.db, api: journalApi(shared, journal, tokens), log, config: { jobs: shared.jobs, journal } });
    expect(report).toMatchObject({ created: 4, failures: [] });
    standalone.hubspot.create('contacts', { email: 'shared@example.com' });
    await standalone.hubspot.journal.idle();
    const target = journalTargets(shared, journal)[0]!;
    const step = await consumeStep({ db: testDb.db, log, config: journal, target, api: journalApi(shared, journal, tokens, target), jobs: shared.jobs, worker: 'shared-test' });
    expect(step).toMatchObject({ kind: 'read', events: 1 });
  });
  it('with a signing key, points Paragon at the Triggers API the running stand-in serves', async () => {
    const config = configSchema.parse({
      sandbox: true,
      sandboxOptions: { url: standalone.baseUrl },
      paragon: { projectId: 'replaced-in-sandbox-mode', signingKey: generateSigningKeyPair().privateKeyPem },
      jobs: [{ name: 'contacts', portalId: 62515, objectType: 'contacts', properties: ['email'] }],
    });
    const { config: shared } = useRunningSandbox(config, captureLogger().log);
    const paragon = shared.paragon!;
    expect(paragon.actionKitUrl).toBe(`${standalone.baseUrl}${standalone.paragon!.actionKitPath}`);
    // Its project's subscriptions are there (401 without a user token), not an unknown path.
    expect((await fetch(`${paragon.actionKitUrl}/projects/${paragon.projectId}/trigger-subscriptions`)).status).toBe(401);
  });
});

const dir = tempDir('hubsync-split-sandbox');

describe.skipIf(!serverUrl)('split roles in sandbox mode (a shared Postgres)', () => {
  /** Runs `hubsync run --role worker` until it says it runs; its log. */
  async function worker(file: string): Promise<string> {
    const child = startCli(['run', '--role', 'worker', '--config', file]);
    try {
      await waitForOutput(child, /"msg":"hubsync running"/);
    } finally {
      child.kill('SIGTERM');
    }
    const result = await finished(child);
    expect(result.code).toBe(0);
    return result.stdout;
  }

  it('a worker that would start an empty stand-in of its own says so and how to share one; pointed at a running one it does not', async () => {
    const url = await createServerDatabase(serverUrl!);
    try {
      const write = (name: string, sandboxUrl: string) => {
        const file = path.join(dir, name);
        writeFileSync(file, `sandbox: true\nsandboxOptions: { url: "${sandboxUrl}", streamIntervalMs: 0 }\ndatabase: { url: "${url}" }\nmetrics: { intervalSeconds: 3600 }\njobs: [{ name: contacts, portalId: 62515, objectType: contacts, properties: [email], schedule: "0 0 1 1 *" }]\n`);
        return file;
      };
      const own = write('own.yaml', '');
      expect((await runCli(['migrate', '--config', own])).code).toBe(0);
      const alone = await worker(own);
      expect(alone).toMatch(/"level":40,[^\n]*"msg":"sandbox mode with --role worker: this process starts a stand-in of its own[^\n]*sandboxOptions\.url to share one"/);
      const shared = await worker(write('shared.yaml', standalone.baseUrl));
      expect(shared).toContain('"msg":"sandbox mode: using the stand-in already running at sandboxOptions.url"');
      expect(shared).not.toContain('stand-in of its own');
    } finally {
      await dropServerDatabase(serverUrl!, url);
    }
  });
});
