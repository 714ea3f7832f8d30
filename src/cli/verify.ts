import type { Config } from '../config/schema.ts';
import type { DatabaseHandle } from '../db/index.ts';
import { UsageError } from '../errors.ts';
import { openHubSpotAccounts } from '../hubspot/accounts.ts';
import { resolveJobTypes } from '../polling/index.ts';
import { verifyJob, type JobDrift } from '../verify/verify.ts';
import type { Context } from './context.ts';

export interface VerifyCommandOptions {
  job?: string;
  sample: number;
  associations: boolean;
}

/**
 * `hubsync verify`: each job's sample compared with HubSpot (its own budget, at the account's
 * `budgetShare` and narrowed by HubSpot's headers to what the running daemon leaves, the lowest
 * priority), printed per job with examples. Exit 1 when anything drifted.
 */
export async function runVerify(ctx: Context, handle: DatabaseHandle, options: VerifyCommandOptions, write: (text: string) => void): Promise<number> {
  const config: Config = ctx.config;
  if (options.job !== undefined && !config.jobs.some((job) => job.name === options.job)) {
    throw new UsageError(`verify --job needs one of the configured jobs: ${config.jobs.map((job) => job.name).join(', ') || '(none)'}`);
  }
  const accounts = await openHubSpotAccounts(handle.db, config.hubspot, { log: ctx.log });
  try {
    const jobs = (await resolveJobTypes(config.jobs, accounts.types, ctx.configPath)).filter((job) => options.job === undefined || job.name === options.job);
    let drifted = 0;
    for (const job of jobs) {
      const account = accounts.get(job.portalId);
      if (!account) throw new UsageError(`job ${job.name}: no hubspot.accounts entry for portal ${job.portalId}`);
      const drift = await verifyJob(handle.db, account, job, { sample: options.sample, associations: options.associations });
      drifted += drift.drifted;
      write(formatDrift(drift));
    }
    write(drifted > 0 ? `drift: ${drifted} record${drifted === 1 ? '' : 's'} differ from HubSpot\n` : 'no drift: the sampled records match HubSpot\n');
    return drifted > 0 ? 1 : 0;
  } finally {
    accounts.close();
  }
}

function formatDrift(d: JobDrift): string {
  const kinds = Object.entries(d.byKind).map(([kind, n]) => `${kind} ${n}`).join(', ');
  const lines = [
    `${d.job} (${d.portalId}/${d.objectType}): ${d.compared} compared${d.associations.length ? ` with associations to ${d.associations.join(', ')}` : ''}, ` +
      `${d.inFlight} changed too recently to judge, ${d.drifted} drifted${kinds ? ` (${kinds})` : ''}; ${d.apiCalls} API calls`,
    ...d.examples.map((e) => `  ${d.objectType}/${e.objectId} ${e.kind}: ${e.detail}`),
  ];
  return `${lines.join('\n')}\n`;
}
