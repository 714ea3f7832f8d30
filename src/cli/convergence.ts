import type { Kysely } from 'kysely';
import type { JobConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { PortalTruth } from '../sandbox/index.ts';

export interface Mismatch {
  ref: string;
  what: string;
  expected: unknown;
  actual: unknown;
}

export interface ConvergenceReport {
  ok: boolean;
  /** Objects compared (every object of every job's portal and type that HubSpot knows). */
  checked: number;
  mismatches: Mismatch[];
}

interface MirrorRow {
  portal_id: number;
  object_type: string;
  object_id: string;
  properties: Record<string, string | null>;
  archived: boolean;
  merged_into: string | null;
}

/**
 * Compares the mirror with the sandbox's ground truth for the configured jobs: every object's
 * existence, archived and merged state, and the values of the job's properties. Used by the demo
 * and by end-to-end tests; the sandbox is a test double, so only the CLI and tests import this.
 */
export async function checkConvergence(db: Kysely<Database>, truth: readonly PortalTruth[], jobs: readonly JobConfig[]): Promise<ConvergenceReport> {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  for (const job of jobs) {
    // Jobs may name the type as `contact` or `0-1`; the mirror and the truth use `contacts`.
    const objectType = job.objectType;
    const portal = truth.find((p) => p.portalId === job.portalId);
    const expected = (portal?.objects ?? []).filter((o) => o.objectType === objectType);
    const rows = (await db
      .selectFrom('hubspot_objects')
      .select(['portal_id', 'object_type', 'object_id', 'properties', 'archived', 'merged_into'])
      .where('portal_id', '=', job.portalId)
      .where('object_type', '=', objectType)
      .execute()) as MirrorRow[];
    const mirror = new Map(rows.map((row) => [row.object_id, row]));
    for (const object of expected) {
      checked++;
      const ref = `${job.portalId}/${objectType}/${object.id}`;
      const row = mirror.get(object.id);
      mirror.delete(object.id);
      if (!row) {
        mismatches.push({ ref, what: 'missing from the mirror', expected: 'a row', actual: null });
        continue;
      }
      if (object.mergedInto) {
        if (row.merged_into !== object.mergedInto) mismatches.push({ ref, what: 'merged_into', expected: object.mergedInto, actual: row.merged_into });
        continue;
      }
      const archived = object.archived || object.privacyDeleted;
      if (row.archived !== archived) mismatches.push({ ref, what: 'archived', expected: archived, actual: row.archived });
      if (archived) continue;
      const names = job.properties === 'all' ? Object.keys(object.properties) : job.properties;
      for (const name of names) {
        const want = object.properties[name] ?? null;
        const have = row.properties[name] ?? null;
        if ((want || null) !== (have || null)) mismatches.push({ ref, what: `property ${name}`, expected: want, actual: have });
      }
    }
    for (const row of mirror.values()) {
      mismatches.push({ ref: `${job.portalId}/${objectType}/${row.object_id}`, what: 'in the mirror but unknown to HubSpot', expected: null, actual: 'a row' });
    }
  }
  return { ok: mismatches.length === 0, checked, mismatches };
}
