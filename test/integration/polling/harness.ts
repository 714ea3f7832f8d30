import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { configSchema, type Config, type JobConfig } from '../../../src/config/schema.ts';
import { createHubSpotAccounts, type HubSpotAccounts } from '../../../src/hubspot/client.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import type { PollDeps } from '../../../src/polling/jobs.ts';
import { DEFAULT_PORTAL_ID, type Sandbox, type TruthObject } from '../../../src/sandbox/index.ts';
import type { TestDb } from '../../helpers/db.ts';

export const PORTAL = DEFAULT_PORTAL_ID;
export const TOKEN = `pat-sandbox-${PORTAL}`;

/** A logger whose lines the test can read back. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/** A validated config with one account and the given jobs (defaults filled in by the real schema). */
export function pollingConfig(baseUrl: string, jobs: Partial<JobConfig>[], account: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    hubspot: { baseUrl, accounts: [{ portalId: PORTAL, accessToken: TOKEN, timeZone: 'UTC', ...account }] },
    jobs: jobs.map((j, i) => ({ name: `job${i}`, portalId: PORTAL, objectType: 'contacts', lookbackSeconds: 0, schedule: '0 0 1 1 *', ...j })),
  });
}

export interface Poller {
  deps: PollDeps;
  accounts: HubSpotAccounts;
  metrics: Metrics;
  lines: Record<string, unknown>[];
  config: Config;
  job(name?: string): JobConfig;
}

export function poller(testDb: TestDb, sandbox: Sandbox, config: Config, worker = 'test-worker'): Poller {
  const { log, lines } = captureLogger();
  const metrics = new Metrics();
  const accounts = createHubSpotAccounts(config.hubspot, { log, metrics, timeScale: sandbox.clock.timeScale });
  return {
    deps: { db: testDb.db, accounts, log, metrics, worker },
    accounts,
    metrics,
    lines,
    config,
    job: (name = 'job0') => {
      const job = config.jobs.find((j) => j.name === name);
      if (!job) throw new Error(`no job ${name}`);
      return job;
    },
  };
}

/** Mirror rows of a type, keyed by id: version (hs_updated_at ms), archived, properties. */
export async function mirrorRows(testDb: TestDb, objectType = 'contacts'): Promise<Map<string, { version: number; deleted: boolean; properties: Record<string, string | null> }>> {
  const rows = await testDb.db
    .selectFrom('hubspot_objects')
    .select(['object_id', 'hs_updated_at', 'archived', 'lifecycle', 'properties'])
    .where('portal_id', '=', PORTAL)
    .where('object_type', '=', objectType)
    .execute();
  return new Map(rows.map((r) => [r.object_id, { version: r.hs_updated_at?.getTime() ?? Number.NaN, deleted: r.archived || r.lifecycle === 'deleted', properties: r.properties }]));
}

/** Live objects of the sandbox's truth. */
export function liveTruth(sandbox: Sandbox, objectType = 'contacts'): TruthObject[] {
  const portal = sandbox.hubspot.truth(PORTAL)[0];
  return (portal?.objects ?? []).filter((o) => o.objectType === objectType && !o.archived && !o.mergedInto && !o.privacyDeleted);
}

/** Ids whose mirror row is missing or older than the truth. */
export async function missingOrStale(testDb: TestDb, sandbox: Sandbox, objectType = 'contacts'): Promise<string[]> {
  const rows = await mirrorRows(testDb, objectType);
  return liveTruth(sandbox, objectType)
    .filter((o) => {
      const row = rows.get(o.id);
      return !row || row.version !== o.updatedAt || row.deleted;
    })
    .map((o) => o.id);
}
