/**
 * Shared pieces of the journal's integration tests: the stand-in with a journal app, a
 * configuration reading it, and a drain that reads the journal until caught up and applies what
 * it stored.
 */
import pino from 'pino';
import { checkConvergence } from '../../../src/cli/convergence.ts';
import { parseConfigObject } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import type { Database } from '../../../src/db/schema.ts';
import type { Kysely } from 'kysely';
import { createHubSpotAccounts } from '../../../src/hubspot/client.ts';
import { consumeStep, type ConsumerDeps } from '../../../src/journal/consumer.ts';
import { journalApi, journalTargets, journalTokens } from '../../../src/journal/service.ts';
import { Metrics } from '../../../src/metrics/registry.ts';
import { processWebhookBatch } from '../../../src/webhooks/processor.ts';
import { jobProperties } from '../../../src/webhooks/service.ts';
import { startSandbox, type JournalOptions, type Sandbox } from '../../../src/sandbox/index.ts';
import { startScratchSandboxDaemon, type SandboxDaemon } from '../../helpers/daemon.ts';

export const PORTAL = 62515;
const PROPERTIES: Record<string, string[]> = {
  contacts: ['email', 'firstname', 'lastname', 'phone', 'lifecyclestage', 'company', 'city'],
  companies: ['name', 'domain', 'industry', 'numberofemployees'],
};
export const TOKEN = `pat-sandbox-${PORTAL}`;
export const APP = { appId: 54321, clientId: 'journal-client', clientSecret: 'journal-secret' };
export const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
/** The stand-in's time scale in these tests (a HubSpot second is 10 ms). */
export const TIME_SCALE = 0.01;

/** The stand-in with the portal and the journal app (`seed` and the journal's further options as given). */
export function startJournalSandbox(options: { seed?: number; journal?: Omit<JournalOptions, 'apps'> } = {}): Promise<Sandbox> {
  return startSandbox({
    timeScale: TIME_SCALE,
    hubspot: { ...(options.seed !== undefined ? { seed: options.seed } : {}), accounts: [{ portalId: PORTAL, accessToken: TOKEN }], journal: { apps: [APP], ...options.journal } },
  });
}

/** Contacts and companies of the portal, read through the journal (and polled, when a test runs the jobs). */
export function journalConfig(sandbox: Sandbox, raw: { journal?: Record<string, unknown>; jobs?: Record<string, unknown>; database?: Record<string, unknown> } = {}): Config {
  return parseConfigObject({
    database: raw.database ?? {},
    hubspot: {
      baseUrl: sandbox.baseUrl,
      accounts: [{ portalId: PORTAL, accessToken: TOKEN }],
      journal: { clientId: APP.clientId, clientSecret: APP.clientSecret, pollIntervalMs: 20, leaseSeconds: 5, ...raw.journal },
    },
    jobs: Object.entries(PROPERTIES).map(([objectType, properties]) => ({ name: objectType, portalId: PORTAL, objectType, properties, schedule: '0 0 1 1 *', lookbackSeconds: 0, ...raw.jobs })),
  });
}

export interface Drainer {
  metrics: Metrics;
  deps: ConsumerDeps;
  /** Reads the journal until caught up and applies everything stored, until nothing is left. */
  drain(): Promise<{ entries: number; events: number }>;
  close(): void;
}

export function drainer(db: Kysely<Database>, config: Config, timeScale: number, overrides: Partial<ConsumerDeps> = {}): Drainer {
  const journal = config.hubspot.journal!;
  const tokens = journalTokens(config, journal);
  const target = journalTargets(config, journal)[0]!;
  const metrics = new Metrics();
  const accounts = createHubSpotAccounts(config.hubspot, { log, timeScale });
  const deps: ConsumerDeps = { db, log, metrics, config: journal, target, api: journalApi(config, journal, tokens, target), jobs: config.jobs, worker: 'test', ...overrides };
  const state = { emptySeen: false };
  return {
    metrics,
    deps,
    async drain() {
      let entries = 0;
      let events = 0;
      let failures = 0;
      for (let i = 0; i < 10_000; i++) {
        const step = await consumeStep(deps, state);
        if (step.kind === 'failed') {
          // Injected 5xx and 429s are retried, as the service does; a failure that persists is a bug.
          if (++failures > 20) throw new Error(`journal step failed: ${step.message}`);
          await new Promise((r) => setTimeout(r, Math.min(step.retryAfterMs ?? 10, 50)));
          continue;
        }
        failures = 0;
        if (step.kind === 'caught-up') break;
        if (step.kind === 'superseded') continue;
        entries += step.entries;
        events += step.events;
      }
      const processor = { db, log, metrics, config: config.webhooks, reader: accounts.reader, properties: jobProperties(config) };
      for (let i = 0; i < 1000; i++) {
        const batch = await processWebhookBatch(processor);
        if (batch.claimed === 0) break;
        if (batch.retrying + batch.failed > 0) throw new Error(`processing failed: ${JSON.stringify(batch)}`);
      }
      return { entries, events };
    },
    close: () => accounts.close(),
  };
}

/** The mirror against the stand-in's truth for the jobs (objects, values, tombstones, final merge survivors). */
export function mismatches(db: Kysely<Database>, sandbox: Sandbox, jobs: Config['jobs']) {
  return checkConvergence(db, sandbox.hubspot.truth(PORTAL), jobs);
}

/**
 * The whole daemon in sandbox mode (stand-in, receiver, processor, polling, journal) on a scratch
 * database, both jobs polling once an hour (and at start); `close` stops it and removes the database.
 */
export function startJournalDaemon(sandboxOptions: Record<string, unknown>): Promise<SandboxDaemon> {
  return startScratchSandboxDaemon({
    sandboxOptions: { timeScale: TIME_SCALE, streamIntervalMs: 0, initialChanges: 0, ...sandboxOptions },
    http: { port: 0, host: '127.0.0.1' },
    hubspot: { journal: { clientId: 'replaced-in-sandbox-mode', clientSecret: 'replaced', pollIntervalMs: 20, leaseSeconds: 5 } },
    webhooks: { processIntervalMs: 20 },
    // Hourly, at the minute furthest from now (a test never sees the scheduled poll: the alone test counts runs); no association sweep.
    jobs: Object.entries(PROPERTIES).map(([objectType, properties]) => ({ name: objectType, portalId: PORTAL, objectType, properties, schedule: `${(new Date().getMinutes() + 30) % 60} * * * *`, associationSweep: 'off', lookbackSeconds: 0 })),
  }, log);
}
