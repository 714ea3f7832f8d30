/**
 * One identity per object type: at start every job's type and associated types are resolved in
 * its portal to the keys the mirror uses (`contacts`; a custom object's type id, `2-3465`). A type
 * no portal knows is a configuration error; so is a job whose type only a portal's schemas could
 * tell while they cannot be read.
 */
import type { JobConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { STANDARD_ASSOCIATIONS } from '../hubspot/object-types.ts';
import { describeFailure } from '../hubspot/outcome.ts';
import type { ObjectTypeResolver } from '../hubspot/schemas.ts';

/** A job whose `associations` are known (resolved, or the default pairs). */
export type ResolvedJob = JobConfig & { associations: string[] };

/**
 * Resolves the jobs' object types and association types; `associations` left out default to the
 * standard pairs among the types the portal's jobs mirror. Throws a `ConfigError` listing every
 * type that cannot be resolved.
 */
export async function resolveJobTypes(jobs: readonly JobConfig[], types: ObjectTypeResolver, source = 'the configuration'): Promise<ResolvedJob[]> {
  const problems: string[] = [];
  const resolve = async (job: JobConfig, name: string, path: string): Promise<string | undefined> => {
    const result = await types.resolve(job.portalId, name);
    if (!result.ok) problems.push(`${path}: ${JSON.stringify(name)} cannot be resolved, the schemas of portal ${job.portalId} are unreadable (${describeFailure(result)})`);
    else if (result.value === undefined) problems.push(`${path}: portal ${job.portalId} has no object type ${JSON.stringify(name)}`);
    return result.ok ? result.value : undefined;
  };
  const resolved = await Promise.all(
    jobs.map(async (job, i) => {
      const objectType = (await resolve(job, job.objectType, `jobs[${i}].objectType`)) ?? job.objectType;
      const listed = job.associations === undefined ? undefined : await Promise.all(job.associations.map((name, j) => resolve(job, name, `jobs[${i}].associations[${j}]`)));
      return { job: { ...job, objectType }, listed };
    }),
  );
  if (problems.length > 0) throw new ConfigError(source, problems);
  const mirrored = new Set(resolved.map((r) => `${r.job.portalId}/${r.job.objectType}`));
  return resolved.map(({ job, listed }) => {
    const associations = listed
      ? listed.filter((type): type is string => type !== undefined && type !== job.objectType)
      : (STANDARD_ASSOCIATIONS[job.objectType] ?? []).filter((type) => mirrored.has(`${job.portalId}/${type}`));
    return { ...job, associations: [...new Set(associations)] };
  });
}
