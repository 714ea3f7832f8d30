/**
 * `hubsync verify`: samples records the mirror holds, reads them from HubSpot by batch read at the
 * lowest budget priority (after hydration, polls and backfills, inside the account's budget share)
 * and reports where the mirror differs: values of the job's properties, deleted or not, merged
 * into which survivor, erased, and (with associations) the full association sets. The production
 * form of the demo's convergence check.
 *
 * A record HubSpot changed within `settleMs` is in flight, not drift: polling has not had its
 * turn yet. Only what the job mirrors is compared (its properties, its associated types).
 */
import type { Kysely } from 'kysely';
import type { JobConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { readAssociations, ASSOCIATION_BATCH } from '../hubspot/associations.ts';
import type { HubSpotAccount } from '../hubspot/client.ts';
import { mergedObjectIds, mirrorProperties, objectVersion, type HubSpotObject } from '../hubspot/objects.ts';
import { readLiveOrArchived } from '../hubspot/live-or-archived.ts';
import { describeFailure } from '../hubspot/outcome.ts';
import { mirroredEdges, mirroredRecords, sampleRecords, type MirroredRecord } from './verify-store.ts';

/** Kinds of drift, as reported. */
export type DriftKind = 'property' | 'deleted' | 'merged_into' | 'erased' | 'associations';

export interface DriftExample {
  objectId: string;
  kind: DriftKind;
  detail: string;
}

export interface JobDrift {
  job: string;
  portalId: number;
  objectType: string;
  /** Records compared (HubSpot answered for them and they were not in flight). */
  compared: number;
  /** Records HubSpot changed within the settle time: left out. */
  inFlight: number;
  /** Records with any drift, and per kind. */
  drifted: number;
  byKind: Partial<Record<DriftKind, number>>;
  examples: DriftExample[];
  /** Associated types whose sets were compared. */
  associations: string[];
  /** HubSpot calls made. */
  apiCalls: number;
}

export interface VerifyOptions {
  sample: number;
  associations: boolean;
  /** Changes younger than this are in flight. Default: the job's look-back, at least two minutes. */
  settleMs?: number;
  now?: () => number;
  signal?: AbortSignal;
}

/** A failed read: the run cannot say anything about drift. */
export class VerifyFailed extends Error {
  override readonly name = 'VerifyFailed';
}

const EXAMPLES = 5;
const BATCH = 100;

/** Samples one job's records and compares them with HubSpot. */
export async function verifyJob(db: Kysely<Database>, account: HubSpotAccount, job: JobConfig, options: VerifyOptions): Promise<JobDrift> {
  const now = options.now ?? Date.now;
  const settleMs = options.settleMs ?? Math.max(120_000, job.lookbackSeconds * 1000);
  const stats = { calls: 0, rateLimited: 0 };
  const opts = { stats, ...(options.signal ? { signal: options.signal } : {}) };
  const toTypes = options.associations ? (job.associations ?? []) : [];
  const drift: JobDrift = { job: job.name, portalId: job.portalId, objectType: job.objectType, compared: 0, inFlight: 0, drifted: 0, byKind: {}, examples: [], associations: toTypes, apiCalls: 0 };
  const properties = job.properties === 'all' ? 'all' : mirrorProperties(job.objectType, job.properties);
  const sample = await sampleRecords(db, job.portalId, job.objectType, options.sample);
  const drifted = new Set<string>();
  for (let i = 0; i < sample.length; i += BATCH) {
    const chunk = sample.slice(i, i + BATCH);
    const ids = chunk.map((r) => r.objectId);
    const read = await readLiveOrArchived(account, job.objectType, ids, properties, 'verify', opts);
    if (!read.ok) throw new VerifyFailed(`${read.read} of ${job.objectType}: ${describeFailure(read)}`);
    const verdicts = judge(job, chunk, read.value.live, read.value.archived, new Set(read.value.gone), now() - settleMs);
    // A record read under another id is the survivor of a merge: the sampled id must point there.
    const survivors = await mirroredRecords(db, job.portalId, job.objectType, [...new Set(verdicts.flatMap((v) => (v.survivor ? [v.survivor] : [])))]);
    const fresh = new Set<string>();
    for (const v of verdicts) {
      if (v.inFlight) {
        drift.inFlight++;
        continue;
      }
      drift.compared++;
      if (v.survivor && survivors.get(v.survivor)?.mergedInto) v.problems.length = 0; // the survivor itself moved on: judged when sampled
      if (v.liveAs === v.record.objectId) fresh.add(v.record.objectId);
      record(drift, drifted, v.record.objectId, v.problems);
    }
    for (const toType of toTypes) await compareEdges(db, account, job, toType, [...fresh], now() - settleMs, (id, problems) => record(drift, drifted, id, problems), opts);
  }
  drift.apiCalls = stats.calls;
  return drift;
}

interface Verdict {
  record: MirroredRecord;
  inFlight: boolean;
  /** The id HubSpot answered a live read with (a merge's survivor when different). */
  liveAs?: string;
  survivor?: string;
  problems: { kind: DriftKind; detail: string }[];
}

/** What HubSpot's answers say about each sampled record, against the mirror's row. */
function judge(job: JobConfig, records: readonly MirroredRecord[], live: readonly HubSpotObject[], archived: readonly HubSpotObject[], gone: ReadonlySet<string>, settledBefore: number): Verdict[] {
  const byId = new Map(live.map((o) => [String(o.id), o]));
  const mergedInto = new Map<string, HubSpotObject>();
  for (const o of live) for (const id of mergedObjectIds(o)) if (id !== String(o.id)) mergedInto.set(id, o);
  const archivedIds = new Set(archived.map((o) => String(o.id)));
  return records.map((record): Verdict => {
    const id = record.objectId;
    const own = byId.get(id);
    if (own) {
      const inFlight = !(objectVersion(job.objectType, own) < settledBefore);
      return { record, inFlight, liveAs: id, problems: inFlight ? [] : liveProblems(job, record, own) };
    }
    const survivor = mergedInto.get(id);
    if (survivor) {
      const inFlight = !(objectVersion(job.objectType, survivor) < settledBefore);
      const problems = record.mergedInto === String(survivor.id) ? [] : [{ kind: 'merged_into' as const, detail: `merged into ${survivor.id} in HubSpot, mirror: ${record.mergedInto ?? 'not merged'}` }];
      return { record, inFlight, survivor: String(survivor.id), problems: inFlight ? [] : problems };
    }
    if (archivedIds.has(id)) return { record, inFlight: false, problems: record.archived ? [] : [{ kind: 'deleted', detail: 'deleted in HubSpot, live in the mirror' }] };
    if (gone.has(id)) {
      const erased = record.erased && Object.keys(record.properties).length === 0;
      return { record, inFlight: false, problems: erased ? [] : [{ kind: 'erased', detail: 'neither live nor deleted in HubSpot (privacy-deleted or purged), values still in the mirror' }] };
    }
    // Answered neither as itself nor as a known survivor: a merge whose survivor lists it elsewhere.
    return { record, inFlight: true, problems: [] };
  });
}

function liveProblems(job: JobConfig, record: MirroredRecord, object: HubSpotObject): { kind: DriftKind; detail: string }[] {
  if (record.erased || record.mergedInto !== null) return [{ kind: 'erased', detail: 'live in HubSpot, erased or merged away in the mirror' }];
  if (record.archived) return [{ kind: 'deleted', detail: 'live in HubSpot, deleted in the mirror' }];
  const names = job.properties === 'all' ? Object.keys(object.properties) : job.properties;
  const problems: { kind: DriftKind; detail: string }[] = [];
  for (const name of names) {
    const want = object.properties[name] || null;
    const have = record.properties[name] || null;
    if (want !== have) problems.push({ kind: 'property', detail: `${name}: HubSpot ${JSON.stringify(want)}, mirror ${JSON.stringify(have)}` });
  }
  return problems;
}

/** Reads the full association sets of live, settled records and compares them with the mirror's present edges. */
async function compareEdges(
  db: Kysely<Database>,
  account: HubSpotAccount,
  job: JobConfig,
  toType: string,
  ids: readonly string[],
  settledBefore: number,
  report: (objectId: string, problems: { kind: DriftKind; detail: string }[]) => void,
  opts: { signal?: AbortSignal; stats: { calls: number; rateLimited: number } },
): Promise<void> {
  for (let i = 0; i < ids.length; i += ASSOCIATION_BATCH) {
    const chunk = ids.slice(i, i + ASSOCIATION_BATCH);
    const read = await readAssociations(account, job.objectType, toType, chunk, 'verify', opts);
    if (!read.ok) throw new VerifyFailed(`association read ${job.objectType} → ${toType}: ${describeFailure(read)}`);
    const mirrored = await mirroredEdges(db, job.portalId, job.objectType, chunk, toType);
    for (const id of chunk) {
      const theirs = read.value.sets.get(id);
      if (theirs === undefined) continue;
      const ours = mirrored.get(id) ?? new Map<string, number>();
      const want = new Set(theirs.map((t) => t.objectId));
      // An edge the mirror changed within the settle time may be ahead of (or behind) this read.
      const missing = [...want].filter((to) => !ours.has(to));
      const extra = [...ours].filter(([to, version]) => !want.has(to) && version < settledBefore).map(([to]) => to);
      if (missing.length === 0 && extra.length === 0) continue;
      const detail = [missing.length ? `missing ${toType} ${missing.slice(0, 5).join(', ')}` : '', extra.length ? `extra ${toType} ${extra.slice(0, 5).join(', ')}` : ''].filter(Boolean).join('; ');
      report(id, [{ kind: 'associations', detail }]);
    }
  }
}

/** Counts a record's problems (a record drifts once however many it has) and keeps a few examples. */
function record(drift: JobDrift, drifted: Set<string>, objectId: string, problems: readonly { kind: DriftKind; detail: string }[]): void {
  if (problems.length === 0) return;
  drifted.add(objectId);
  drift.drifted = drifted.size;
  for (const p of problems) {
    drift.byKind[p.kind] = (drift.byKind[p.kind] ?? 0) + 1;
    if (drift.examples.length < EXAMPLES) drift.examples.push({ objectId, kind: p.kind, detail: p.detail });
  }
}
