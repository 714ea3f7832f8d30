import type { Kysely } from 'kysely';
import type { JobConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { PortalTruth, TruthObject } from '../sandbox/index.ts';

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
  /** Of those, privacy-deleted ones whose values must be erased, and ids merged away. */
  erased: number;
  merged: number;
  /** Associations compared, per pair (`contacts → companies`): edges HubSpot has between live records. */
  associations: { pair: string; edges: number }[];
  mismatches: Mismatch[];
}

interface MirrorRow {
  portal_id: number;
  object_type: string;
  object_id: string;
  properties: Record<string, string | null>;
  archived: boolean;
  merged_into: string | null;
  privacy_deleted_at: Date | null;
  gone_at: Date | null;
}

/** The mirror's key for a type of the truth: the name for HubSpot's own types, the type id for custom ones. */
function mirrorKey(objectType: string, objectTypeId: string): string {
  return objectTypeId.startsWith('2-') ? objectTypeId : objectType;
}

/**
 * Compares the mirror with the sandbox's ground truth for the configured jobs: every object's
 * existence, archived state, final merge survivor (`merged_into`), erased values (a privacy
 * deletion, whether the mirror learned it as such or as gone for good), the values of the job's
 * properties, and, for each pair in a job's `associations`, the associations between live
 * records. Used by the demo and by end-to-end tests; the sandbox is a test double, so only the CLI
 * and tests import this.
 */
export async function checkConvergence(db: Kysely<Database>, truth: readonly PortalTruth[], jobs: readonly JobConfig[]): Promise<ConvergenceReport> {
  const report: ConvergenceReport = { ok: true, checked: 0, erased: 0, merged: 0, associations: [], mismatches: [] };
  for (const job of jobs) {
    const objectType = job.objectType;
    const portal = truth.find((p) => p.portalId === job.portalId);
    const expected = (portal?.objects ?? []).filter((o) => mirrorKey(o.objectType, o.objectTypeId) === objectType);
    const rows = (await db
      .selectFrom('hubspot_objects')
      .select(['portal_id', 'object_type', 'object_id', 'properties', 'archived', 'merged_into', 'privacy_deleted_at', 'gone_at'])
      .where('portal_id', '=', job.portalId)
      .where('object_type', '=', objectType)
      .execute()) as MirrorRow[];
    const mirror = new Map(rows.map((row) => [row.object_id, row]));
    const byId = new Map(expected.map((o) => [o.id, o]));
    for (const object of expected) {
      report.checked++;
      const ref = `${job.portalId}/${objectType}/${object.id}`;
      const row = mirror.get(object.id);
      mirror.delete(object.id);
      if (row) report.mismatches.push(...compareObject(job, ref, object, row, report, erasedForGood(object, byId)));
      // A person erased before any path saw them (or an id merged into one) leaves nothing to mirror.
      else if (!erasedForGood(object, byId)) report.mismatches.push({ ref, what: 'missing from the mirror', expected: 'a row', actual: null });
    }
    for (const row of mirror.values()) {
      report.mismatches.push({ ref: `${job.portalId}/${objectType}/${row.object_id}`, what: 'in the mirror but unknown to HubSpot', expected: null, actual: 'a row' });
    }
    for (const toType of job.associations ?? []) report.mismatches.push(...(await compareAssociations(db, job, toType, portal, report)));
  }
  report.ok = report.mismatches.length === 0;
  return report;
}

/** Privacy-deleted, or merged into a survivor that was: no read shows anything of it any more. */
function erasedForGood(object: TruthObject, byId: ReadonlyMap<string, TruthObject>): boolean {
  return object.privacyDeleted || (object.mergedInto !== null && byId.get(object.mergedInto)?.privacyDeleted === true);
}

function compareObject(job: JobConfig, ref: string, object: TruthObject, row: MirrorRow, report: ConvergenceReport, erasedSurvivor: boolean): Mismatch[] {
  const erased = (row.privacy_deleted_at !== null || row.gone_at !== null) && Object.keys(row.properties).length === 0;
  if (object.mergedInto) {
    report.merged++;
    // Merged into a survivor since privacy-deleted: reads show nothing, so erased is right too.
    if (row.merged_into === object.mergedInto || (erasedSurvivor && erased)) return [];
    return [{ ref, what: 'merged_into', expected: object.mergedInto, actual: row.merged_into }];
  }
  if (object.privacyDeleted) {
    report.erased++;
    return erased ? [] : [{ ref, what: 'privacy deletion (values erased)', expected: {}, actual: row.properties }];
  }
  const out: Mismatch[] = [];
  if (row.archived !== object.archived) out.push({ ref, what: 'archived', expected: object.archived, actual: row.archived });
  if (object.archived) return out;
  const names = job.properties === 'all' ? Object.keys(object.properties) : job.properties;
  for (const name of names) {
    const want = object.properties[name] ?? null;
    const have = row.properties[name] ?? null;
    if ((want || null) !== (have || null)) out.push({ ref, what: `property ${name}`, expected: want, actual: have });
  }
  return out;
}

/**
 * The present edges from the job's type to `toType` between records live in HubSpot, against the
 * mirror's present sides from the job's type. A deleted record's edges are left out on both sides:
 * HubSpot's reads hide them until it is restored.
 */
async function compareAssociations(db: Kysely<Database>, job: JobConfig, toType: string, portal: PortalTruth | undefined, report: ConvergenceReport): Promise<Mismatch[]> {
  const key = (o: TruthObject) => `${mirrorKey(o.objectType, o.objectTypeId)}/${o.id}`;
  const known = new Set((portal?.objects ?? []).map(key));
  const live = new Set((portal?.objects ?? []).filter((o) => !o.archived && !o.mergedInto && !o.privacyDeleted).map(key));
  // Compared: sides between live records, and sides naming a record HubSpot never had.
  const compared = (type: string, id: string) => live.has(`${type}/${id}`) || !known.has(`${type}/${id}`);
  const expected = new Set<string>();
  for (const a of portal?.associations ?? []) {
    const ends = [[mirrorKey(a.fromType, a.fromTypeId), a.fromId], [mirrorKey(a.toType, a.toTypeId), a.toId]] as const;
    for (const [[fromType, fromId], [otherType, otherId]] of [[ends[0], ends[1]], [ends[1], ends[0]]] as const) {
      if (fromType === job.objectType && otherType === toType) expected.add(`${fromId}>${otherId}`);
    }
  }
  const rows = await db
    .selectFrom('hubspot_associations')
    .select(['from_object_id', 'to_object_id'])
    .where('portal_id', '=', job.portalId)
    .where('from_object_type', '=', job.objectType)
    .where('to_object_type', '=', toType)
    .where('removed', '=', false)
    .execute();
  const actual = new Set(rows.filter((r) => compared(job.objectType, r.from_object_id) && compared(toType, r.to_object_id)).map((r) => `${r.from_object_id}>${r.to_object_id}`));
  report.associations.push({ pair: `${job.objectType} → ${toType}`, edges: expected.size });
  const ref = (edge: string) => `${job.portalId}/${job.objectType}/${edge.replace('>', ` → ${toType}/`)}`;
  return [
    ...[...expected].filter((e) => !actual.has(e)).map((e) => ({ ref: ref(e), what: 'association missing from the mirror', expected: 'present', actual: null })),
    ...[...actual].filter((e) => !expected.has(e)).map((e) => ({ ref: ref(e), what: 'association HubSpot does not have', expected: null, actual: 'present' })),
  ];
}
