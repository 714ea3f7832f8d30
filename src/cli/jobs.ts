/**
 * Commands that plan against HubSpot with the jobs (`status`, `journal subscriptions sync`) must
 * see them as the worker runs them: a custom object named by its name (`p_projects`) is keyed by
 * its type id (`2-3465`) in the mirror, the ledger and the journal's subscriptions. Planned with
 * the name, the subscription sync left the custom object's subscriptions out (and deleted the
 * ones the worker had made), and status reported them as to delete.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import { openHubSpotAccounts } from '../hubspot/accounts.ts';
import { CUSTOM_TYPE_ID, standardObjectType } from '../hubspot/object-types.ts';
import { resolveJobTypes } from '../polling/index.ts';

/** A type only a portal's schemas can key: neither HubSpot's own nor a custom type id. */
function needsSchemas(type: string): boolean {
  return standardObjectType(type) === undefined && !CUSTOM_TYPE_ID.test(type);
}

/**
 * The configuration with its jobs resolved as `hubsync run` resolves them. `strict`: a type that
 * cannot be resolved throws the `ConfigError` the worker would. Otherwise HubSpot is asked only when
 * a job names a custom object, and if that fails the names are kept with a warning.
 */
export async function withJobsAsRun(config: Config, db: Kysely<Database>, log: Logger, options: { strict: boolean; source: string }): Promise<Config> {
  if (!options.strict && !config.jobs.some((job) => [job.objectType, ...(job.associations ?? [])].some(needsSchemas))) return config;
  // Sandbox mode's stand-in lives in the daemon's process: there is no HubSpot to ask (status keys a
  // custom object by its job's cursor instead).
  if (!options.strict && config.sandbox && !config.sandboxOptions.url) return config;
  const accounts = await openHubSpotAccounts(db, config.hubspot, { log });
  let timer: NodeJS.Timeout | undefined;
  try {
    const resolving = resolveJobTypes(config.jobs, accounts.types, options.source);
    if (options.strict) return { ...config, jobs: await resolving };
    // A report should not wait on a HubSpot that is down (its calls retry for a while): past the
    // deadline the names are kept, and closing the accounts ends the calls still waiting.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`HubSpot did not answer within ${LOOKUP_MS / 1000} s`)), LOOKUP_MS);
    });
    return { ...config, jobs: await Promise.race([resolving, deadline]) };
  } catch (err) {
    if (options.strict) throw err;
    // The reason, without a stack: a portal HubSpot cannot be asked about is no bug of hubsync's.
    log.warn({ reason: coerceError(err).message }, 'custom object types could not be resolved: their figures are shown under the configured names');
    return config;
  } finally {
    clearTimeout(timer);
    accounts.close();
  }
}

/** How long a report (`status`) waits for HubSpot to name custom object types. */
const LOOKUP_MS = 3_000;
