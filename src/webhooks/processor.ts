/**
 * Webhook processing (`worker` role): claim stored events, turn them into observations, hydrate
 * what an event does not carry (creation, restore, merge need the record) with batch reads at
 * hydration priority, and apply everything with `applyObservations` in the transaction that
 * marks the events processed. Failures back off and are retried; several workers share the
 * queue through `FOR UPDATE SKIP LOCKED` claims with a lease.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { isConnectionError } from '../errors.ts';
import {
  claimWebhookEvents,
  deferWebhookEvents,
  eraseWebhookPayloads,
  leaseWebhookEvents,
  lockDueWebhookEvents,
  markWebhookEventsFailed,
  markWebhookEventsProcessed,
  type ClaimedEvent,
  type ClaimShare,
  type DueEvents,
  type WebhookFailure,
} from './inbox-store.ts';
import { snapshotFromObject, type HubSpotReader } from '../hubspot/objects.ts';
import { applyObservations } from '../mirror/apply.ts';
import { objectKey, type AssociationReadObservation, type ObjectRef, type Observation, type SnapshotObservation, type Via } from '../mirror/observation.ts';
import type { Metrics } from '../metrics/registry.ts';
import { hydrationReads, planEvent, type EventPlan } from './plan.ts';

export interface ProcessorDeps {
  db: Kysely<Database>;
  log: Logger;
  metrics: Metrics;
  config: Pick<WebhooksConfig, 'processBatchSize' | 'leaseSeconds' | 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs'>;
  /** Batch reads through the account's shared budget. Without one, events apply without hydration. */
  reader?: HubSpotReader;
  /** Properties to hydrate for a portal and type (a sync job's list), default all. */
  properties?: (portalId: number, objectType: string) => readonly string[] | 'all';
  /** Types whose associations are read with each hydrated record of a portal and type (a sync job's `associations`), default none. */
  associations?: (portalId: number, objectType: string) => readonly string[];
  now?: () => Date;
  random?: () => number;
  /** Stops waiting for hydration reads (the service stopping). */
  signal?: AbortSignal;
  /**
   * Lease every event of the batch before applying it (counting the attempt), as the fallback
   * does. The service does this for its first claim after a start and after a batch that threw:
   * if the process died in the middle of a batch (a poison event that kills it, say), or a batch
   * keeps failing with the database's own errors (a statement timeout), those events are the
   * oldest pending ones, and the attempts they use up are counted until `maxAttempts` parks them.
   */
  leaseAll?: boolean;
  /**
   * Told when a lease this batch wrote has committed: until then its events are not due, even if
   * the batch goes on to throw (the service's `idle()` waits for them).
   */
  leased?: (until: Date) => void;
  /**
   * The share of the queue this batch's lane takes first (see `DueEvents.share`): a process's
   * lanes apply disjoint sets of objects, rather than each waiting for the others' mirror row locks.
   */
  share?: ClaimShare;
}

export interface BatchResult {
  claimed: number;
  processed: number;
  /** Failed this time, to be retried. */
  retrying: number;
  /** Given up on (deterministic failures, or out of attempts). */
  failed: number;
  hydrated: number;
  /** Put back, attempt not counted, until their HubSpot account's pause ends. */
  deferred: number;
}

/** When to retry after `attempts` failed attempts: exponential with jitter, capped; null once out of attempts. */
export function retryAt(attempts: number, now: Date, config: ProcessorDeps['config'], random: () => number): Date | null {
  if (attempts >= config.maxAttempts) return null;
  const exponential = Math.min(config.backoffMaxMs, config.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
  return new Date(now.getTime() + Math.round(exponential * (0.5 + random() / 2)));
}

type Plan = Extract<EventPlan, { ok: true }>;
type Fail = (id: number, error: string, permanent: boolean) => void;

/**
 * Processes one batch. Never throws for a bad event; throws only when the database is unusable.
 *
 * One transaction claims the batch (row locks, no write), applies the events that carry all they
 * say and marks them processed, parks events that cannot be planned, and leases the events that
 * wait on a HubSpot read: an event that needs no read costs the inbox one write. The leased
 * events are then hydrated and applied as before. If that transaction fails for a reason other
 * than the database being gone, the batch is claimed again with a lease and applied event by
 * event, so one bad event cannot hold the others back.
 */
export async function processWebhookBatch(deps: ProcessorDeps): Promise<BatchResult> {
  const { db, log, config } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const claimedAt = now();
  const leaseUntil = new Date(claimedAt.getTime() + config.leaseSeconds * 1000);
  const result: BatchResult = { claimed: 0, processed: 0, retrying: 0, failed: 0, hydrated: 0, deferred: 0 };
  const failures: WebhookFailure[] = [];
  const attempts = new Map<number, number>();
  const fail: Fail = (id, error, permanent) =>
    failures.push({ id, error, retryAt: permanent ? null : retryAt(attempts.get(id) ?? 1, now(), config, random) });
  const claim = { now: claimedAt, limit: config.processBatchSize, maxAttempts: config.maxAttempts, share: deps.share };
  const readDeadlineAt = claimedAt.getTime() + readDeadlineMs(config.leaseSeconds);

  let outcome: { applied: number[]; needy: Plan[]; later: Unplannable[] } | undefined;
  if (!deps.leaseAll) {
    try {
      outcome = await db.transaction().execute(async (trx) => {
        const rows = await lockDueWebhookEvents(trx, claim);
        result.claimed = rows.length;
        // Counted as the lease would have: this claim is an attempt.
        for (const row of rows) attempts.set(row.id, row.attempts + 1);
        const { plans, unplannable } = planAll(rows, deps.reader);
        // Events that cannot be planned yet (a custom type the portal's schemas have not named yet)
        // are leased like those waiting on a read, so the retry counts its attempt; the rest fail for good.
        const permanent = unplannable.filter((u) => !u.retry);
        await markWebhookEventsFailed(trx, permanent.map((u) => ({ ...u, retryAt: null })), now());
        result.failed = permanent.length;
        if (permanent.length > 0) log.warn({ failed: permanent.length, first: permanent[0]?.error }, 'webhook events cannot be processed');
        const later = unplannable.filter((u) => u.retry);
        const direct = plans.filter((plan) => plan.hydrate.length === 0);
        const split = deferUntilResumed(plans.filter((plan) => plan.hydrate.length > 0), deps.reader, readDeadlineAt);
        result.deferred = await deferAll(trx, split.deferred, false);
        await leaseWebhookEvents(trx, [...split.needy.map((plan) => plan.id), ...later.map((u) => u.id)], leaseUntil);
        // Events that carry all they say are applied now: a read waiting on the rate budget (paused
        // by a 429 or the daily limit) must not hold back property changes and deletions. Last, so
        // the mirror's rows stay locked only for the mirror's own statements and the commit.
        await applyPlans(trx, direct, [], now(), true);
        return { applied: direct.map((plan) => plan.id), needy: split.needy, later };
      });
      if (outcome.needy.length + outcome.later.length > 0) deps.leased?.(leaseUntil);
    } catch (err) {
      if (isConnectionError(err)) throw err;
      log.warn({ err, events: result.claimed }, 'webhook batch failed to apply; claiming it again with a lease');
      result.failed = 0;
      result.deferred = 0;
    }
  }
  outcome ??= await claimLeased(deps, { ...claim, leaseUntil, readDeadlineAt }, result, attempts, fail);
  const { applied, needy, later } = outcome;
  for (const u of later) fail(u.id, u.error, false);
  if (result.deferred > 0) log.info({ deferred: result.deferred }, 'webhook events needing a HubSpot read wait for the account pause to end');

  // Reads get part of the lease: past it the events wait for a retry rather than outlive their claim.
  const { snapshots, errors, edges } = await hydrate(deps, needy.flatMap((plan) => plan.hydrate), readDeadline(config.leaseSeconds, deps.signal));
  result.hydrated = snapshots.size;
  const ready: Plan[] = [];
  for (const plan of needy) {
    const error = plan.hydrate.map((ref) => errors.get(objectKey(ref))).find((e) => e !== undefined);
    if (error !== undefined) fail(plan.id, `hydration failed: ${error}`, false);
    else ready.push(plan);
  }
  applied.push(...(await applyWithFallback(deps, ready, snapshots, fail, now, false, edges)));
  result.processed = applied.length;

  await markWebhookEventsFailed(db, failures, now());
  for (const failure of failures) {
    if (failure.retryAt === null) result.failed += 1;
    else result.retrying += 1;
  }
  if (failures.length > 0) log.warn({ retrying: result.retrying, failed: result.failed, first: failures[0]?.error }, 'webhook events failed to process');
  countResult(deps.metrics, result);
  return result;
}

/**
 * The fallback claim: lease the batch (counting the attempt) and apply the events that need no
 * read in one transaction, or event by event if that fails. Unplannable events fail at once.
 */
async function claimLeased(
  deps: ProcessorDeps,
  claim: DueEvents & { leaseUntil: Date; readDeadlineAt: number },
  result: BatchResult,
  attempts: Map<number, number>,
  fail: Fail,
): Promise<{ applied: number[]; needy: Plan[]; later: Unplannable[] }> {
  const now = deps.now ?? (() => new Date());
  const rows = await claimWebhookEvents(deps.db, claim);
  result.claimed = rows.length;
  if (rows.length > 0) deps.leased?.(claim.leaseUntil);
  attempts.clear();
  for (const row of rows) attempts.set(row.id, row.attempts);
  const { plans, unplannable } = planAll(rows, deps.reader);
  for (const u of unplannable.filter((x) => !x.retry)) fail(u.id, u.error, true);
  const applied = await applyWithFallback(deps, plans.filter((plan) => plan.hydrate.length === 0), new Map(), fail, now, false);
  const split = deferUntilResumed(plans.filter((plan) => plan.hydrate.length > 0), deps.reader, claim.readDeadlineAt);
  result.deferred = await deferAll(deps.db, split.deferred, true);
  return { applied, needy: split.needy, later: unplannable.filter((u) => u.retry) };
}

/** An event that cannot become observations; with `retry`, not yet (see `EventPlan`). */
type Unplannable = Extract<EventPlan, { ok: false }>;

function planAll(rows: readonly ClaimedEvent[], reader: HubSpotReader | undefined): { plans: Plan[]; unplannable: Unplannable[] } {
  const plans: Plan[] = [];
  const unplannable: Unplannable[] = [];
  const types = reader?.objectType?.bind(reader);
  for (const row of rows) {
    const plan = planEvent(row, types);
    if (plan.ok) plans.push(plan);
    else unplannable.push(plan);
  }
  observePropertyNames(plans, reader);
  return { plans, unplannable };
}

/** A property created since its type's property list was read shows up in events first: tell the list. */
function observePropertyNames(plans: readonly Plan[], reader: HubSpotReader | undefined): void {
  if (!reader?.observeProperties) return;
  for (const o of plans.flatMap((plan) => plan.observations)) {
    if (o.kind === 'propertyChange') reader.observeProperties(o.ref.portalId, o.ref.objectType, [o.property]);
    else if (o.kind === 'snapshot') reader.observeProperties(o.ref.portalId, o.ref.objectType, Object.keys(o.properties));
  }
}

/** Puts back events whose account stays paused, until its pause ends; returns how many. */
async function deferAll(db: Kysely<Database>, deferred: ReadonlyMap<number, number[]>, leased: boolean): Promise<number> {
  let count = 0;
  for (const [until, ids] of deferred) {
    await deferWebhookEvents(db, ids, new Date(until), `hydration waits for the HubSpot account's pause to end (${new Date(until).toISOString()})`, leased);
    count += ids.length;
  }
  return count;
}

function countResult(metrics: Metrics, result: BatchResult): void {
  metrics.count('webhook.events.processed', result.processed);
  if (result.retrying) metrics.count('webhook.events.retrying', result.retrying);
  if (result.failed) metrics.count('webhook.events.failed', result.failed);
  if (result.hydrated) metrics.count('webhook.hydration.objects', result.hydrated);
}

function readDeadlineMs(leaseSeconds: number): number {
  return (leaseSeconds * 1000) / 2;
}

function readDeadline(leaseSeconds: number, signal: AbortSignal | undefined): AbortSignal {
  const deadline = AbortSignal.timeout(readDeadlineMs(leaseSeconds));
  return signal ? AbortSignal.any([deadline, signal]) : deadline;
}

/** Splits plans needing reads into those to read now and those (ids by resume time) whose account stays paused past `deadline`. */
function deferUntilResumed<P extends { id: number; hydrate: ObjectRef[] }>(plans: readonly P[], reader: HubSpotReader | undefined, deadline: number) {
  const needy: P[] = [];
  const deferred = new Map<number, number[]>();
  for (const plan of plans) {
    const until = Math.max(0, ...plan.hydrate.map((ref) => reader?.pausedUntil?.(ref.portalId) ?? 0));
    if (until <= deadline) needy.push(plan);
    else if (deferred.has(until)) deferred.get(until)!.push(plan.id);
    else deferred.set(until, [plan.id]);
  }
  return { needy, deferred };
}

/**
 * Applies leased plans in one transaction with the hydrated snapshots (including records HubSpot
 * resolved to another id: a merged-away id reads as its survivor). If that fails for a reason
 * other than the database being gone, applies event by event so one bad event cannot hold the
 * others back. With the database gone it throws: the leases expire and the events are claimed
 * again. Returns the ids applied.
 */
async function applyWithFallback(
  deps: ProcessorDeps,
  plans: readonly Plan[],
  snapshots: ReadonlyMap<string, SnapshotObservation>,
  fail: Fail,
  now: () => Date,
  countAttempt: boolean,
  edges: readonly AssociationReadObservation[] = [],
): Promise<number[]> {
  if (plans.length === 0) return [];
  try {
    await deps.db.transaction().execute((trx) => applyPlans(trx, plans, [...credited(plans, snapshots), ...edges], now(), countAttempt));
    return plans.map((plan) => plan.id);
  } catch (err) {
    if (isConnectionError(err)) throw err;
    deps.log.warn({ err, events: plans.length }, 'webhook batch failed to apply; retrying event by event');
    const ok: number[] = [];
    for (const plan of plans) {
      try {
        const own = new Map<string, SnapshotObservation>();
        for (const key of plan.hydrate.map(objectKey)) {
          const snapshot = snapshots.get(key);
          if (snapshot) own.set(key, snapshot);
        }
        const ownEdges = edges.filter((e) => own.has(objectKey(e.ref)));
        await deps.db.transaction().execute((trx) => applyPlans(trx, [plan], [...credited([plan], own), ...ownEdges], now(), countAttempt));
        ok.push(plan.id);
      } catch (eventErr) {
        fail(plan.id, `apply failed: ${(eventErr as Error).message ?? String(eventErr)}`, false);
      }
    }
    return ok;
  }
}

/**
 * The snapshots as observations of the paths whose events asked for them: a read a push webhook
 * triggered is the push side's (`hydration`), one a journal event triggered the journal's. A
 * record read under another id (a merge's survivor) goes to every path that read in this batch.
 */
function credited(plans: readonly Plan[], snapshots: ReadonlyMap<string, SnapshotObservation>): SnapshotObservation[] {
  const byKey = new Map<string, Set<Via>>();
  const all = new Set<Via>();
  for (const plan of plans) {
    const via = plan.readVia ?? 'hydration';
    for (const ref of plan.hydrate) {
      all.add(via);
      const vias = byKey.get(objectKey(ref)) ?? new Set<Via>();
      byKey.set(objectKey(ref), vias.add(via));
    }
  }
  return [...snapshots].flatMap(([key, snapshot]) => [...(byKey.get(key) ?? all)].map((via) => (via === snapshot.via ? snapshot : { ...snapshot, via })));
}

/**
 * Marks events processed and applies their plans, in the caller's transaction (all or nothing).
 * The mark comes first: the mirror's row locks, which batches touching the same objects wait
 * for, are then held only for the mirror's statements and the commit.
 */
async function applyPlans(trx: Transaction<Database>, plans: readonly Plan[], snapshots: readonly Observation[], at: Date, countAttempt: boolean): Promise<void> {
  if (plans.length === 0) return;
  const observations: Observation[] = [...plans.flatMap((plan) => plan.observations), ...snapshots];
  await markWebhookEventsProcessed(trx, plans.map((plan) => plan.id), at, countAttempt);
  const { erased } = await applyObservations(trx, observations, { now: at });
  // A privacy deletion reaches the inbox's copies too, these events' included.
  await eraseWebhookPayloads(trx, erased);
}

/**
 * Reads the records the events need, each once (many events for one object coalesce), up to
 * 100 ids per call. Ids HubSpot no longer has are simply absent: the event still applies.
 */
async function hydrate(deps: ProcessorDeps, refs: readonly { portalId: number; objectType: string; objectId: string }[], signal: AbortSignal) {
  const snapshots = new Map<string, SnapshotObservation>();
  const errors = new Map<string, string>();
  const edges: AssociationReadObservation[] = [];
  if (refs.length === 0 || !deps.reader) return { snapshots, errors, edges };
  const reader = deps.reader;
  const now = deps.now ?? (() => new Date());
  await Promise.all(
    hydrationReads(refs).map(async (read) => {
      const properties = deps.properties?.(read.portalId, read.objectType) ?? 'all';
      try {
        const { results } = await reader.batchRead(read.portalId, read.objectType, read.ids, properties, 'hydration', signal);
        const seenAt = now();
        for (const object of results) {
          const snapshot = snapshotFromObject(read.portalId, read.objectType, object, 'hydration', seenAt);
          if (!Number.isFinite(snapshot.version)) continue;
          snapshots.set(objectKey(snapshot.ref), snapshot);
        }
        edges.push(...(await hydrateAssociations(deps, read.portalId, read.objectType, results.map((o) => String(o.id)), signal)));
      } catch (err) {
        const message = (err as Error).message ?? String(err);
        deps.log.warn({ err, portalId: read.portalId, objectType: read.objectType, ids: read.ids.length }, 'webhook hydration read failed');
        for (const id of read.ids) errors.set(objectKey({ portalId: read.portalId, objectType: read.objectType, objectId: id }), message);
      }
    }),
  );
  return { snapshots, errors, edges };
}

/**
 * The full association sets of hydrated records (the job's associated types), applied with them.
 * A failed read leaves the records' edges to the next poll or sweep rather than hold the events.
 */
async function hydrateAssociations(deps: ProcessorDeps, portalId: number, objectType: string, ids: readonly string[], signal: AbortSignal): Promise<AssociationReadObservation[]> {
  const toTypes = deps.associations?.(portalId, objectType) ?? [];
  if (toTypes.length === 0 || ids.length === 0 || !deps.reader?.readAssociations) return [];
  try {
    return await deps.reader.readAssociations(portalId, objectType, toTypes, ids, 'hydration', signal);
  } catch (err) {
    deps.log.warn({ err, portalId, objectType, ids: ids.length }, 'association read for hydrated records failed: left to polling');
    return [];
  }
}
