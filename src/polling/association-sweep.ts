/**
 * The association sweep of a job (`associationSweep`, daily by default): walks the objects the
 * mirror holds for the job's type, 100 at a time in id order, and re-reads them (batch read, at
 * backfill priority) with their associations to the job's associated types. It catches what no
 * object change announces: an association changed while its webhook was lost (HubSpot does not
 * always bump `lastmodifieddate` for it), and records gone for good (a batch read reports them
 * missing and a batch read of archived records does too: privacy-deleted with the webhook lost,
 * or purged 90 days after deletion). Objects whose associations a poll read since the sweep began
 * are skipped. The position commits with what each chunk read, so a sweep resumes after a crash.
 */
import { associationObservations } from '../hubspot/associations.ts';
import { readLiveOrArchived } from '../hubspot/live-or-archived.ts';
import { snapshotFromObject, toEpochMs } from '../hubspot/objects.ts';
import { applyObservations } from '../mirror/apply.ts';
import type { Observation } from '../mirror/observation.ts';
import { committed, keyOf, unwrap, type PassContext } from './passes.ts';
import { getSweep, nextSweepIds, saveSweep, type SweepPosition } from './sweep-store.ts';

const CHUNK = 100;

export async function associationSweepPass(ctx: PassContext): Promise<void> {
  const key = keyOf(ctx);
  const stored = await getSweep(ctx.db, key);
  const position: SweepPosition = stored && stored.finishedAt === null ? { ...stored } : { afterId: null, startedAt: ctx.now(), finishedAt: null };
  const toTypes = ctx.job.associations ?? [];
  for (;;) {
    if (ctx.signal.aborted) throw new Error('stopped');
    const { ids, lastId } = await nextSweepIds(ctx.db, key, position.afterId, CHUNK, toTypes, new Date(position.startedAt));
    if (lastId === null) break;
    const observations = ids.length > 0 ? await readChunk(ctx, ids) : [];
    const seenAt = new Date(ctx.now());
    position.afterId = lastId;
    await ctx.db.transaction().execute(async (trx) => {
      if (observations.length > 0) await applyObservations(trx, observations, { now: seenAt });
      await saveSweep(trx, key, position, seenAt);
    });
    await committed(ctx, 1, ids.length);
    ctx.progress?.update(ctx.counts.records, undefined);
    await ctx.onPage?.();
  }
  await saveSweep(ctx.db, key, { ...position, finishedAt: ctx.now() }, new Date(ctx.now()));
}

/**
 * One chunk: the live records as snapshots, the deleted ones as tombstones, the ones neither
 * live nor archived as gone, and the full association sets of the live ones.
 */
async function readChunk(ctx: PassContext, ids: readonly string[]): Promise<Observation[]> {
  const { portalId, objectType } = keyOf(ctx);
  const opts = { signal: ctx.signal, stats: ctx.stats };
  const properties = ctx.properties ?? 'all';
  const read = await readLiveOrArchived(ctx.account, objectType, ids, properties, 'backfill', opts);
  const { live, archived, gone } = unwrap(read, read.ok ? '' : read.read);
  const seenAt = new Date(ctx.now());
  const observations: Observation[] = live.map((o) => snapshotFromObject(portalId, objectType, o, 'poll', seenAt));
  for (const o of archived) {
    const archivedAt = toEpochMs(o.archivedAt);
    if (Number.isFinite(archivedAt)) observations.push({ kind: 'deleted', ref: { portalId, objectType, objectId: String(o.id) }, version: archivedAt, via: 'poll', seenAt });
  }
  // Gone: neither read knows the id. HubSpot gives no time for it; the reads' time stands.
  for (const objectId of gone) observations.push({ kind: 'gone', ref: { portalId, objectType, objectId }, version: seenAt.getTime(), via: 'poll', seenAt });
  const toTypes = ctx.job.associations ?? [];
  const liveIds = live.map((o) => String(o.id));
  if (toTypes.length > 0 && liveIds.length > 0) {
    observations.push(...unwrap(await associationObservations(ctx.account, objectType, toTypes, liveIds, 'backfill', 'poll', () => new Date(ctx.now()), opts), 'association read'));
  }
  return observations;
}
