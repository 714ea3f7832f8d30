/**
 * `hubsync journal subscriptions sync` (and at worker start, then every
 * `subscriptions.syncIntervalSeconds`): makes HubSpot's journal subscriptions what the
 * configuration asks for, touching only the ones hubsync made (their ids are remembered in
 * `journal_subscriptions`). Filters cannot be edited, so a changed filter is deleted and created.
 * Failures of single calls are reported, not thrown; the next sync retries them.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config, JournalConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { JournalApi } from './api.ts';
import { forgetSubscriptions, managedSubscriptionIds, rememberSubscription } from './subscriptions-store.ts';
import { desiredSubscriptions, filterKey, listedSubscription, planSubscriptions, type Condition, type DesiredSubscription, type ListedSubscription, type SubscriptionPlan } from './subscriptions.ts';

export interface SubscriptionSyncReport {
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  /** Filters deleted or created on subscriptions that were otherwise kept. */
  filtersChanged: number;
  /** Wanted subscriptions held by one hubsync does not manage (left alone). */
  conflicts: { key: string; id: number }[];
  failures: { action: string; error: string }[];
}

export interface SyncDeps {
  db: Kysely<Database>;
  api: JournalApi;
  log: Logger;
  config: Pick<Config, 'jobs'> & { journal: JournalConfig };
  now?: () => Date;
}

function prefix(journal: JournalConfig): string {
  return `/webhooks-journal/subscriptions/${journal.apiVersion}`;
}

/** Lists HubSpot's subscriptions and plans against the configuration; read only. */
async function planFromHubSpot(deps: SyncDeps): Promise<{ plan: SubscriptionPlan; listed: ListedSubscription[]; managed: ReadonlySet<number> } | { error: string }> {
  const listing = await deps.api.request('GET', prefix(deps.config.journal));
  if (!listing.ok) return { error: listing.message };
  const results = (listing.value as { results?: unknown } | undefined)?.results;
  const listed = (Array.isArray(results) ? results : []).map(listedSubscription).filter((s): s is ListedSubscription => s !== undefined);
  const managed = await managedSubscriptionIds(deps.db);
  return { plan: planSubscriptions(desiredSubscriptions(deps.config, deps.config.journal), listed, managed), listed, managed };
}

export async function syncSubscriptions(deps: SyncDeps): Promise<SubscriptionSyncReport> {
  const log = deps.log.child({ module: 'journal-subscriptions' });
  const now = deps.now ?? (() => new Date());
  const report: SubscriptionSyncReport = { created: 0, updated: 0, deleted: 0, unchanged: 0, filtersChanged: 0, conflicts: [], failures: [] };
  const fail = (action: string, error: string) => {
    report.failures.push({ action, error });
    log.error({ action, error }, 'journal subscription call failed');
  };
  const planned = await planFromHubSpot(deps);
  if ('error' in planned) {
    fail('list', planned.error);
    return report;
  }
  const { plan, listed, managed } = planned;
  // Ours, but gone from HubSpot (deleted by hand): forgotten, and made again below.
  const listedIds = new Set(listed.map((s) => s.id));
  await forgetSubscriptions(deps.db, [...managed].filter((id) => !listedIds.has(id)));
  const base = prefix(deps.config.journal);

  const upsert = async (d: DesiredSubscription): Promise<number | undefined> => {
    const res = await deps.api.request('POST', base, d.body);
    const id = res.ok ? Number((res.value as { id?: unknown } | undefined)?.id) : Number.NaN;
    if (!res.ok || !Number.isSafeInteger(id)) {
      fail(`upsert ${d.key}`, res.ok ? 'no subscription id in the answer' : res.message);
      return undefined;
    }
    return id;
  };

  for (const d of plan.create) {
    const id = await upsert(d);
    if (id === undefined) continue;
    const filters = await reconcileFilters(deps, id, d, fail);
    await rememberSubscription(deps.db, id, d, filters.ids, now());
    report.created++;
  }
  for (const { id: existing, desired } of plan.update) {
    const id = await upsert(desired);
    if (id === undefined) continue;
    const filters = await reconcileFilters(deps, id, desired, fail);
    await rememberSubscription(deps.db, id, desired, filters.ids, now());
    if (id !== existing) await forgetSubscriptions(deps.db, [existing]);
    report.updated++;
  }
  for (const { id, desired } of plan.unchanged) {
    const filters = await reconcileFilters(deps, id, desired, fail);
    if (filters.changed > 0) {
      report.filtersChanged += filters.changed;
      await rememberSubscription(deps.db, id, desired, filters.ids, now());
    } else report.unchanged++;
  }
  for (const s of plan.remove) {
    const res = await deps.api.request('DELETE', `${base}/${s.id}`);
    // Already gone (404) is what we wanted.
    if (res.ok || res.kind === 'expired') {
      await forgetSubscriptions(deps.db, [s.id]);
      report.deleted++;
    } else fail(`delete ${s.id}`, res.message);
  }
  for (const c of plan.conflicts) {
    report.conflicts.push({ key: c.desired.key, id: c.id });
    log.warn({ key: c.desired.key, id: c.id }, 'a journal subscription hubsync does not manage covers what the configuration asks for: left alone');
  }
  log.info({ ...report, conflicts: report.conflicts.length, failures: report.failures.length }, 'journal subscriptions synced');
  return report;
}

/** Makes a subscription's filters the desired ones (delete the others, create the missing). Returns the kept ids. */
async function reconcileFilters(deps: SyncDeps, subscriptionId: number, d: DesiredSubscription, fail: (action: string, error: string) => void): Promise<{ ids: number[]; changed: number }> {
  if (d.body.subscriptionType !== 'OBJECT') return { ids: [], changed: 0 };
  const base = prefix(deps.config.journal);
  const listing = await deps.api.request('GET', `${base}/filters/subscription/${subscriptionId}`);
  const existing = listing.ok && Array.isArray(listing.value) ? (listing.value as { id?: unknown; filter?: { conditions?: unknown } }[]) : [];
  if (!listing.ok && listing.kind !== 'expired') {
    fail(`list filters of ${subscriptionId}`, listing.message);
    return { ids: [], changed: 0 };
  }
  // Filters are ORed: a set of keys.
  const wanted = new Set(d.filters.map(filterKey));
  const kept: number[] = [];
  const have = new Set<string>();
  let changed = 0;
  for (const f of existing) {
    const key = filterKey((Array.isArray(f.filter?.conditions) ? f.filter.conditions : []).map(conditionOf));
    // A filter listed without an id is there, but can be neither remembered nor deleted.
    const id = Number(f.id);
    if (wanted.has(key) && !have.has(key)) {
      have.add(key);
      if (Number.isSafeInteger(id)) kept.push(id);
      continue;
    }
    if (!Number.isSafeInteger(id)) {
      fail(`delete filter on ${subscriptionId}`, 'HubSpot listed a filter without an id');
      continue;
    }
    const res = await deps.api.request('DELETE', `${base}/filters/${id}`);
    if (res.ok || res.kind === 'expired') changed++;
    else fail(`delete filter ${id}`, res.message);
  }
  for (const conditions of d.filters) {
    if (have.has(filterKey(conditions))) continue;
    const res = await deps.api.request('POST', `${base}/filters`, { subscriptionId, filter: { conditions: conditions.map((c) => ({ filterType: 'CRM_OBJECT_PROPERTY', ...c })) } });
    const id = res.ok ? Number((res.value as { filterId?: unknown } | undefined)?.filterId) : Number.NaN;
    if (Number.isSafeInteger(id)) {
      kept.push(id);
      changed++;
    } else fail(`create filter on ${subscriptionId}`, res.ok ? 'no filterId in the answer' : res.message);
  }
  return { ids: kept, changed };
}

/** A listed condition in the configuration's terms (HubSpot adds `filterType`). */
function conditionOf(raw: unknown): Condition {
  const r = (raw ?? {}) as Record<string, unknown>;
  return {
    property: String(r.property ?? ''),
    operator: r.operator as Condition['operator'],
    ...(typeof r.value === 'string' ? { value: r.value } : {}),
    ...(Array.isArray(r.values) ? { values: r.values.map(String) } : {}),
  };
}

/** What `hubsync status` shows of the subscriptions: read from HubSpot, nothing changed. */
export interface SubscriptionStatus {
  inSync: number;
  toCreate: number;
  toUpdate: number;
  toDelete: number;
  conflicts: { key: string; id: number }[];
}

export async function subscriptionStatus(deps: SyncDeps): Promise<SubscriptionStatus | { error: string }> {
  const planned = await planFromHubSpot(deps);
  if ('error' in planned) return planned;
  const { plan } = planned;
  return {
    inSync: plan.unchanged.length,
    toCreate: plan.create.length,
    toUpdate: plan.update.length,
    toDelete: plan.remove.length,
    conflicts: plan.conflicts.map((c) => ({ key: c.desired.key, id: c.id })),
  };
}
