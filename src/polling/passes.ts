/**
 * The three kinds of pass over a job's object type: the list backfill (resumable by its `after`
 * token), the cursored incremental search, and the archived sweep. Each page's mirror rows and the
 * cursor they advance commit in one transaction.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JobConfig } from '../config/schema.ts';
import { analyzeMirror } from '../mirror/store.ts';
import { getCursor, saveCursor, type SyncCursor } from './cursor-store.ts';
import type { Database } from '../db/schema.ts';
import { HubsyncError } from '../errors.ts';
import type { CallStats } from '../hubspot/budget.ts';
import type { HubSpotAccount, Page } from '../hubspot/client.ts';
import { associationObservations } from '../hubspot/associations.ts';
import { mergedObjectIds, snapshotFromObject, toEpochMs, type HubSpotObject, type Priority } from '../hubspot/objects.ts';
import { describeFailure, type CallResult } from '../hubspot/outcome.ts';
import { applyObservations } from '../mirror/apply.ts';
import type { Observation } from '../mirror/observation.ts';
import type { Metrics } from '../metrics/registry.ts';
import { pipelined } from './pipeline.ts';
import type { Progress } from './progress.ts';
import { advance, comparePositions, planQuery, startPosition, type SearchPosition } from './search-cursor.ts';

/** What a pass needs; `counts` is updated as pages commit. */
export interface PassContext {
  db: Kysely<Database>;
  job: JobConfig;
  account: HubSpotAccount;
  /** Resolved property names; undefined: whatever a read returns by default. */
  properties: readonly string[] | undefined;
  log: Logger;
  metrics?: Metrics | undefined;
  now: () => number;
  signal: AbortSignal;
  stats: CallStats;
  counts: { pages: number; records: number; total: number | null };
  progress?: Progress | undefined;
  /** Called after each committed page (to persist run counts). */
  onPage?: (() => Promise<void>) | undefined;
  /** Epoch ms the incremental search must re-read from this run (a requested re-read), when earlier than its cursor. */
  rescanFrom?: number | undefined;
}

/** A pass ends with a failure it could not retry away (the cursor keeps what committed). */
export class PassFailed extends HubsyncError {
  override readonly name = 'PassFailed';
  override readonly code = 'POLL_PASS_FAILED';
}

/** `hubsync backfill` asked the job to start over while this run was going: it stops, unsaved. */
export class BackfillRequested extends HubsyncError {
  override readonly name = 'BackfillRequested';
  override readonly code = 'BACKFILL_REQUESTED';
  constructor() {
    super('a backfill was requested while this run was going: the next run starts it');
  }
}

/** Saves the cursor unless a backfill was requested since the pass began. */
async function save(db: Parameters<typeof saveCursor>[0], cursor: Parameters<typeof saveCursor>[1], now: Date, resetRequestedAt: number | null): Promise<void> {
  if (!(await saveCursor(db, cursor, now, { resetRequestedAt }))) throw new BackfillRequested();
}

const LIST_LIMIT = 100;

export function unwrap<T>(result: CallResult<T>, what: string): T {
  if (result.ok) return result.value;
  throw new PassFailed(`${what}: ${describeFailure(result)}`);
}

export function keyOf(ctx: PassContext): { jobName: string; portalId: number; objectType: string } {
  return { jobName: ctx.job.name, portalId: ctx.job.portalId, objectType: ctx.job.objectType };
}

function positionOf(cursor: SyncCursor | undefined): SearchPosition | undefined {
  if (!cursor || cursor.cursorTs === null) return undefined;
  return { ts: cursor.cursorTs, id: cursor.cursorId, complete: cursor.cursorTsComplete };
}

/** Records written before the first statistics refresh; then at every doubling. */
const ANALYZE_FROM = 2000;

/** -1 below the first threshold, then 0, 1, 2… at each doubling of it. */
export function analyzeLevel(records: number): number {
  return records < ANALYZE_FROM ? -1 : Math.floor(Math.log2(records / ANALYZE_FROM));
}

export async function committed(ctx: PassContext, pages: number, records: number): Promise<void> {
  const before = ctx.counts.records;
  ctx.counts.pages += pages;
  ctx.counts.records += records;
  // A bulk load: refresh planner statistics at 2k, 4k, 8k… records written (log n times a run).
  if (analyzeLevel(ctx.counts.records) > analyzeLevel(before)) {
    await analyzeMirror(ctx.db).catch((err: unknown) => ctx.log.warn({ err }, 'analyze of the mirror tables failed'));
  }
  ctx.metrics?.count('polling.records', records, { job: ctx.job.name });
  ctx.metrics?.count('polling.pages', pages, { job: ctx.job.name });
  ctx.log.debug({ pages: ctx.counts.pages, records: ctx.counts.records }, 'page committed');
}

/**
 * How many live records of the type search counts (its `total`, one call of one result); undefined
 * when the search fails, which costs the backfill nothing but its estimate.
 */
async function liveCount(ctx: PassContext, objectType: string): Promise<number | undefined> {
  const result = await ctx.account.search(objectType, { filterGroups: [], sorts: [], properties: ['hs_object_id'], limit: 1 }, 'backfill', { signal: ctx.signal, stats: ctx.stats });
  if (!result.ok) ctx.log.debug({ failure: result.failure }, 'backfill size not known: search failed');
  return result.ok ? result.value.total : undefined;
}

/**
 * Lists every live record (100 a page), resuming from the stored `after` token; at the end the
 * cursor turns incremental, starting the look-back before the backfill began.
 */
export async function backfillPass(ctx: PassContext): Promise<void> {
  const key = keyOf(ctx);
  const objectType = key.objectType;
  const initial = await getCursor(ctx.db, key);
  const startedAt = initial?.mode === 'backfill' && initial.backfillStartedAt !== null ? initial.backfillStartedAt : ctx.now();
  const reset = initial?.resetRequestedAt ?? null;
  const base: Omit<SyncCursor, 'updatedAt' | 'resetRequestedAt'> = {
    ...key, mode: 'backfill', backfillAfter: null, backfillStartedAt: startedAt,
    cursorTs: null, cursorId: null, cursorTsComplete: false, rescanFrom: null,
    ...(initial?.mode === 'backfill' ? { backfillAfter: initial.backfillAfter } : {}),
  };
  let after = base.backfillAfter ?? undefined;
  // A fresh backfill's size, for its percentage and ETA (logs, status, the demo): lists report none.
  // A resumed one has read an unknown part already: no estimate.
  const estimate = after === undefined ? await liveCount(ctx, objectType) : undefined;
  ctx.counts.total = estimate ?? null;
  const fetchNext = async () => {
    const opts = { signal: ctx.signal, stats: ctx.stats };
    const page = unwrap(await ctx.account.listPage(objectType, { limit: LIST_LIMIT, ...(after ? { after } : {}), ...(ctx.properties ? { properties: ctx.properties } : {}) }, 'backfill', opts), 'list');
    after = page.after;
    return { page: { ...page, edges: await edgesOf(ctx, page.results, 'backfill') }, last: page.after === undefined };
  };
  await pipelined(fetchNext, async (pages: (Page & { edges: Observation[] })[]) => {
    const seenAt = new Date(ctx.now());
    const observations = pages.flatMap((page) => page.results.map((o): Observation => snapshotFromObject(key.portalId, objectType, o, 'poll', seenAt)));
    observations.push(...pages.flatMap((page) => page.edges));
    await ctx.db.transaction().execute(async (trx) => {
      if (observations.length > 0) await applyObservations(trx, observations, { now: seenAt });
      await save(trx, { ...base, backfillAfter: pages.at(-1)?.after ?? null }, seenAt, reset);
    });
    await committed(ctx, pages.length, countObjects(pages));
    ctx.progress?.update(ctx.counts.records, estimate);
    await ctx.onPage?.();
  });
  const lookbackFrom = startedAt - ctx.job.lookbackSeconds * 1000;
  await save(ctx.db, {
    ...key, mode: 'incremental', backfillAfter: null, backfillStartedAt: startedAt,
    cursorTs: lookbackFrom, cursorId: null, cursorTsComplete: false, rescanFrom: lookbackFrom,
  }, new Date(ctx.now()), reset);
}

/**
 * Reads every change from the cursor up to the run's start through the search API (see
 * search-cursor.ts), then anchors the next run's look-back at this run's start.
 */
export async function incrementalPass(ctx: PassContext): Promise<void> {
  const key = keyOf(ctx);
  const objectType = key.objectType;
  const runStart = ctx.now();
  const cursor = await getCursor(ctx.db, key);
  // Asked to start over since this run chose its passes.
  if (cursor?.mode === 'backfill') throw new BackfillRequested();
  let stored = positionOf(cursor);
  const storedAtStart = stored;
  const requested = [cursor?.rescanFrom, ctx.rescanFrom].filter((t): t is number => t !== undefined && t !== null);
  let position = startPosition(stored, requested.length > 0 ? Math.min(...requested) : null);
  // The look-back range is re-read once the run passes where the last one stopped; from then on a
  // crash need only re-read from this run's own anchor (what it commits when it completes).
  const anchor = runStart - ctx.job.lookbackSeconds * 1000;
  let rescanFrom = cursor?.rescanFrom ?? null;
  let totalBase: number | undefined;
  const fetchNext = async () => {
    const query = planQuery(objectType, position, runStart, ctx.properties, ctx.job.pageSize);
    const page = unwrap(await ctx.account.search(objectType, query.request, 'incremental', { signal: ctx.signal, stats: ctx.stats }), 'search');
    if (query.mode === 'range' && page.total !== undefined) {
      // `total` counts the matches from this query's start on: with what is done, the run's size.
      totalBase = ctx.counts.records + page.total;
    }
    const step = advance(objectType, position, query, page.results);
    position = step.position;
    return { page: { results: page.results, position: step.position, edges: await edgesOf(ctx, page.results, 'incremental') }, last: step.done };
  };
  await pipelined(fetchNext, async (pages: { results: HubSpotObject[]; position: SearchPosition; edges: Observation[] }[]) => {
    const seenAt = new Date(ctx.now());
    const observations = pages.flatMap((page) => page.results.map((o): Observation => snapshotFromObject(key.portalId, objectType, o, 'poll', seenAt)));
    observations.push(...pages.flatMap((page) => page.edges));
    const reached = pages.at(-1)!.position;
    const next = stored && comparePositions(stored, reached) > 0 ? stored : reached;
    if (!storedAtStart || comparePositions(reached, storedAtStart) >= 0) rescanFrom = anchor;
    const t0 = ctx.now();
    await ctx.db.transaction().execute(async (trx) => {
      if (observations.length > 0) await applyObservations(trx, observations, { now: seenAt });
      await save(trx, incrementalCursor(key, next, rescanFrom), seenAt, cursor?.resetRequestedAt ?? null);
    });
    ctx.metrics?.observe('polling.page_write_ms', ctx.now() - t0, { job: ctx.job.name });
    stored = next;
    ctx.metrics?.gauge('polling.cursor_lag_seconds', Math.max(0, (seenAt.getTime() - next.ts) / 1000), { job: ctx.job.name });
    await committed(ctx, pages.length, countObjects(pages));
    ctx.counts.total = totalBase ?? null;
    ctx.progress?.update(ctx.counts.records, totalBase);
    await ctx.onPage?.();
  });
  const final = stored ?? { ts: runStart - ctx.job.lookbackSeconds * 1000, id: null, complete: false };
  await save(ctx.db, incrementalCursor(key, final, anchor), new Date(ctx.now()), cursor?.resetRequestedAt ?? null);
}

/**
 * The full association sets of the objects a page read, for each of the job's associated types
 * (v4 batch reads, 100 ids a call, at the pass's priority): fetched with the page, applied with it.
 */
async function edgesOf(ctx: PassContext, objects: readonly HubSpotObject[], priority: Priority): Promise<Observation[]> {
  const toTypes = ctx.job.associations ?? [];
  if (toTypes.length === 0 || objects.length === 0) return [];
  const ids = objects.map((o) => String(o.id));
  const read = await associationObservations(ctx.account, ctx.job.objectType, toTypes, ids, priority, 'poll', () => new Date(ctx.now()), { signal: ctx.signal, stats: ctx.stats });
  return unwrap(read, 'association read');
}

function countObjects(pages: readonly { results: readonly unknown[] }[]): number {
  return pages.reduce((n, page) => n + page.results.length, 0);
}

function incrementalCursor(key: { jobName: string; portalId: number; objectType: string }, p: SearchPosition, rescanFrom: number | null): Omit<SyncCursor, 'updatedAt' | 'resetRequestedAt'> {
  return {
    ...key, mode: 'incremental', backfillAfter: null, backfillStartedAt: null,
    cursorTs: p.ts, cursorId: p.complete ? null : p.id, cursorTsComplete: p.complete, rescanFrom,
  };
}

/**
 * Lists archived records and records each as a tombstone at its `archivedAt`, with the ids merged
 * into it (`hs_merged_object_ids`): a merge's survivor deleted since is the only record that tells.
 */
export async function sweepPass(ctx: PassContext): Promise<void> {
  const key = keyOf(ctx);
  let after: string | undefined;
  const fetchNext = async () => {
    const page = unwrap(await ctx.account.listPage(key.objectType, { limit: LIST_LIMIT, archived: true, ...(after ? { after } : {}), properties: ['hs_merged_object_ids'] }, 'backfill', { signal: ctx.signal, stats: ctx.stats }), 'archived list');
    after = page.after;
    return { page, last: page.after === undefined };
  };
  await pipelined(fetchNext, async (pages: Page[]) => {
    const seenAt = new Date(ctx.now());
    const tombstones: Observation[] = [];
    for (const o of pages.flatMap((page) => page.results)) {
      const archivedAt = toEpochMs(o.archivedAt);
      if (!Number.isFinite(archivedAt)) continue;
      const ref = { portalId: key.portalId, objectType: key.objectType, objectId: String(o.id) };
      const mergedIds = mergedObjectIds(o);
      const version = toEpochMs(o.updatedAt);
      if (mergedIds.length > 0 && Number.isFinite(version)) tombstones.push({ kind: 'snapshot', ref, version, via: 'poll', seenAt, properties: {}, mergedIds, archivedAt });
      else tombstones.push({ kind: 'deleted', ref, version: archivedAt, via: 'poll', seenAt });
    }
    if (tombstones.length > 0) await ctx.db.transaction().execute((trx) => applyObservations(trx, tombstones, { now: seenAt }));
    await committed(ctx, pages.length, tombstones.length);
    ctx.progress?.update(ctx.counts.records, undefined);
    await ctx.onPage?.();
  });
}
