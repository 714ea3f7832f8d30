/**
 * Periodic verification in the worker (`verify.intervalMinutes`, off by default): every interval,
 * each job's sample is compared with HubSpot at the lowest budget priority, the `mirror.drift`
 * gauge per job says how many sampled records drifted, and a drift is logged with examples.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JobConfig, VerifyConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import type { HubSpotAccounts } from '../hubspot/client.ts';
import { loopLifecycle, sleep, type Service } from '../loop.ts';
import type { Metrics } from '../metrics/registry.ts';
import { verifyJob } from './verify.ts';

export interface VerifyServiceDeps {
  db: Kysely<Database>;
  accounts: HubSpotAccounts;
  jobs: readonly JobConfig[];
  config: VerifyConfig;
  log: Logger;
  metrics: Metrics;
}

export function createVerifyService(deps: VerifyServiceDeps): Service & { verifyOnce(signal?: AbortSignal): Promise<number> } {
  const log = deps.log.child({ module: 'verify' });
  const lifecycle = loopLifecycle(run);
  const { control } = lifecycle;

  /** Verifies every job once; returns the drifted records found. */
  async function verifyOnce(signal?: AbortSignal): Promise<number> {
    let total = 0;
    for (const job of deps.jobs) {
      const account = deps.accounts.get(job.portalId);
      if (!account || signal?.aborted) continue;
      try {
        const drift = await verifyJob(deps.db, account, job, { sample: deps.config.sample, associations: true, ...(signal ? { signal } : {}) });
        deps.metrics.gauge('mirror.drift', drift.drifted, { job: job.name });
        total += drift.drifted;
        const fields = { job: job.name, compared: drift.compared, inFlight: drift.inFlight, drifted: drift.drifted, byKind: drift.byKind, apiCalls: drift.apiCalls };
        if (drift.drifted > 0) log.warn({ ...fields, examples: drift.examples }, 'the mirror drifted from HubSpot');
        else log.info(fields, 'mirror verified against HubSpot: no drift');
      } catch (err) {
        if (signal?.aborted) continue;
        // What the last verification found no longer stands for the mirror: no figure until the next one.
        deps.metrics.clearGauge('mirror.drift', { job: job.name });
        deps.metrics.count('verify.failures', 1, { job: job.name });
        log.warn({ err: coerceError(err), job: job.name }, 'verification failed; trying again next interval');
      }
    }
    return total;
  }

  async function run(): Promise<void> {
    const intervalMs = deps.config.intervalMinutes * 60_000;
    while (!control.stopping) {
      await sleep(intervalMs, control.signal);
      if (!control.stopping) await verifyOnce(control.signal);
    }
  }

  return {
    name: 'verify',
    verifyOnce,
    async start() {
      if (deps.config.intervalMinutes > 0) await lifecycle.start();
    },
    stop: lifecycle.stop,
  };
}
