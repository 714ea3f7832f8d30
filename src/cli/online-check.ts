import type { Config } from '../config/schema.ts';
import { formatPath } from '../config/load.ts';
import { createHubSpotAccounts } from '../hubspot/client.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics/registry.ts';

/**
 * `config check --online`: what only HubSpot can say. Each job's object type must exist in its
 * portal (custom objects are looked up in the portal's schemas, through the token the job uses).
 * Returns the problems, each with the path of its key; an account HubSpot does not answer for
 * is a problem too (a wrong token, a missing scope).
 */
export async function onlineProblems(config: Config, log: Logger): Promise<string[]> {
  const accounts = createHubSpotAccounts(config.hubspot, { log, metrics: new Metrics() });
  try {
    const problems: string[] = [];
    for (const [index, job] of config.jobs.entries()) {
      const path = formatPath(['jobs', index, 'objectType']);
      const result = await accounts.types.resolve(job.portalId, job.objectType);
      if (!result.ok) problems.push(`${path}: could not check it in portal ${job.portalId}: ${result.message}`);
      else if (result.value === undefined) problems.push(`${path}: portal ${job.portalId} has no object type "${job.objectType}" (its custom objects are read from the schemas API)`);
    }
    return problems;
  } finally {
    accounts.close();
  }
}
