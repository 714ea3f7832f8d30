/**
 * Keeps each connected user's Paragon trigger subscriptions as the configuration declares them
 * (`paragon.triggers`). Subscriptions hubsync manages carry `webhookOverride.metadata.managedBy =
 * "hubsync"` and a `key`; anything else (made by the app or by hand) is never touched. The plan
 * is pure; `syncTriggers` applies it, so a second run against an unchanged configuration makes
 * no API calls beyond the listings.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config, ParagonConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { forgetTriggerUser, managedTriggerUsers, rememberTriggerUsers } from './trigger-user-store.ts';
import { HubsyncError } from '../errors.ts';
import { objectTypeName } from '../hubspot/object-types.ts';
import type { Fetch } from './http.ts';
import { createUserTokenSigner } from './token.ts';
import { createTriggersApi, type TriggersApi, type TriggerSubscription, type WebhookOverride } from './triggers-api.ts';

export type TriggerConfig = ParagonConfig['triggers'][number];

export const MANAGED_BY = 'hubsync';

/** A configured trigger's identity among one user's subscriptions. */
export function triggerKey(t: Pick<TriggerConfig, 'integration' | 'type' | 'credentialId'>): string {
  return [t.integration, t.type, t.credentialId].filter(Boolean).join(':');
}

/**
 * The webhookOverride hubsync keeps on a subscription. Besides marking it managed, the metadata
 * tells the receiver what Paragon's webhook body does not: the portal and the object type
 * (Paragon echoes it back as `triggerSubscriptionMetadata`).
 */
export function desiredOverride(t: TriggerConfig, webhookUrl: string): WebhookOverride {
  const recordType = t.parameters['recordType'];
  return {
    url: webhookUrl,
    metadata: {
      managedBy: MANAGED_BY,
      key: triggerKey(t),
      ...(t.portalId ? { portalId: t.portalId } : {}),
      ...(typeof recordType === 'string' ? { objectType: objectTypeName(recordType.toLowerCase()) } : {}),
    },
  };
}

export interface TriggerPlan {
  create: TriggerConfig[];
  update: { subscription: TriggerSubscription; trigger: TriggerConfig; parameters: Record<string, unknown | null>; webhookOverride: WebhookOverride }[];
  remove: TriggerSubscription[];
  unchanged: TriggerSubscription[];
  /** Managed subscriptions Paragon reports as ERRORED (after repeated delivery failures). */
  errored: TriggerSubscription[];
}

function managedKey(s: TriggerSubscription): string | undefined {
  const meta = s.webhookOverride?.metadata;
  return meta?.['managedBy'] === MANAGED_BY && typeof meta['key'] === 'string' ? meta['key'] : undefined;
}

/** JSON with sorted keys: parameter objects compare by content, not key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What to change for one user. Pure. */
export function planTriggers(desired: readonly TriggerConfig[], existing: readonly TriggerSubscription[], webhookUrl: string): TriggerPlan {
  const plan: TriggerPlan = { create: [], update: [], remove: [], unchanged: [], errored: [] };
  const byKey = new Map<string, TriggerSubscription[]>();
  for (const s of existing) {
    const key = managedKey(s);
    if (key === undefined) continue;
    if (s.status === 'ERRORED') plan.errored.push(s);
    const list = byKey.get(key) ?? [];
    list.push(s);
    byKey.set(key, list);
  }
  for (const trigger of desired) {
    const key = triggerKey(trigger);
    const matches = (byKey.get(key) ?? []).filter((s) => s.integration === trigger.integration && s.type === trigger.type);
    byKey.delete(key);
    // Duplicates (a create that timed out but landed, then was retried) collapse to one, an ACTIVE one if any.
    matches.sort((a, b) => Number(b.status === 'ACTIVE') - Number(a.status === 'ACTIVE'));
    const [keep, ...extra] = matches;
    plan.remove.push(...extra);
    if (!keep) {
      plan.create.push(trigger);
      continue;
    }
    const override = desiredOverride(trigger, webhookUrl);
    const sameParams = canonical(keep.parameters ?? {}) === canonical(trigger.parameters);
    const sameOverride = canonical(keep.webhookOverride ?? {}) === canonical(override);
    if (sameParams && sameOverride) {
      plan.unchanged.push(keep);
      continue;
    }
    // PATCH merges parameters shallowly: keys no longer configured are sent as null to remove them.
    const parameters: Record<string, unknown | null> = { ...trigger.parameters };
    for (const k of Object.keys(keep.parameters ?? {})) if (!(k in trigger.parameters)) parameters[k] = null;
    plan.update.push({ subscription: keep, trigger, parameters, webhookOverride: override });
  }
  for (const leftovers of byKey.values()) plan.remove.push(...leftovers);
  return plan;
}

export interface TriggerSyncReport {
  users: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  errored: { user: string; id: string; type: string; error: string | undefined }[];
  /** Calls that failed (the next run retries them). */
  failures: { user: string; action: string; error: string }[];
}

export class TriggerSyncError extends HubsyncError {
  override readonly code = 'TRIGGER_SYNC';
  override readonly operatorError = true;
}

export interface TriggerSyncDeps {
  log: Logger;
  /**
   * Where the managed users are remembered, so that a user removed from the configuration has
   * their subscriptions deleted too. Without it only configured users are reconciled.
   */
  db?: Kysely<Database>;
  fetch?: Fetch;
  timeoutMs?: number;
  /** Stops between users (a stopping worker does not wait for every user's calls). */
  signal?: AbortSignal;
}

/** The URL Paragon posts trigger webhooks to. */
export function paragonWebhookUrl(config: Pick<Config, 'http'>): string {
  return `${config.http.publicUrl.replace(/\/+$/, '')}/webhooks/paragon`;
}

/** Each user to reconcile and the triggers they should have: the configured ones, and (empty) the removed ones. */
async function desiredPerUser(paragon: ParagonConfig, deps: TriggerSyncDeps): Promise<Map<string, TriggerConfig[]>> {
  const desired = Map.groupBy(paragon.triggers, (t) => t.user);
  for (const user of deps.db ? await managedTriggerUsers(deps.db) : []) if (!desired.has(user)) desired.set(user, []);
  return desired;
}

/** One user's subscriptions as Paragon lists them, planned against the configuration. */
interface UserPlan {
  user: string;
  token: string;
  plan: TriggerPlan | undefined;
  /** Why the list failed, when it did. */
  error: string | undefined;
}

/** Lists each user's subscriptions (read only) and plans what a sync would change. */
async function* planPerUser(
  paragon: ParagonConfig,
  webhookUrl: string,
  deps: TriggerSyncDeps,
  api: TriggersApi,
  users: ReadonlyMap<string, TriggerConfig[]>,
): AsyncGenerator<UserPlan> {
  const signer = createUserTokenSigner({ projectId: paragon.projectId, signingKey: paragon.signingKey, ttlSeconds: paragon.tokenTtlSeconds });
  for (const [user, desired] of users) {
    if (deps.signal?.aborted) break;
    const token = await signer.token(user);
    const listed = await api.list(token);
    yield listed.ok
      ? { user, token, plan: planTriggers(desired, listed.value, webhookUrl), error: undefined }
      : { user, token, plan: undefined, error: listed.error };
  }
}

function triggersApi(paragon: ParagonConfig, config: Pick<Config, 'http'>, deps: TriggerSyncDeps): TriggersApi {
  if (!config.http.publicUrl) throw new TriggerSyncError('http.publicUrl is needed for trigger subscriptions (Paragon posts to <publicUrl>/webhooks/paragon)');
  return createTriggersApi({ actionKitUrl: paragon.actionKitUrl, projectId: paragon.projectId, timeoutMs: deps.timeoutMs ?? 15_000, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
}

/**
 * `hubsync triggers sync` (and once at worker start): reconciles every configured user's
 * managed subscriptions with `paragon.triggers`. Failures of single calls are reported, not
 * thrown, so one user's trouble does not stop the others.
 */
export async function syncTriggers(config: Pick<Config, 'paragon' | 'http'>, deps: TriggerSyncDeps): Promise<TriggerSyncReport> {
  const log = deps.log.child({ module: 'paragon-triggers' });
  const report: TriggerSyncReport = { users: 0, created: 0, updated: 0, deleted: 0, unchanged: 0, errored: [], failures: [] };
  if (!config.paragon) throw new TriggerSyncError('paragon is not configured');
  const users = await desiredPerUser(config.paragon, deps);
  if (users.size === 0) return report;
  const api = triggersApi(config.paragon, config, deps);
  const webhookUrl = paragonWebhookUrl(config);
  if (deps.db) await rememberTriggerUsers(deps.db, [...new Set(config.paragon.triggers.map((t) => t.user))], new Date());
  for await (const { user, token, plan, error } of planPerUser(config.paragon, webhookUrl, deps, api, users)) {
    const failuresBefore = report.failures.length;
    report.users++;
    const fail = (action: string, message: string) => {
      report.failures.push({ user, action, error: message });
      log.error({ user, action, error: message }, 'trigger subscription call failed');
    };
    if (!plan) {
      fail('list', error ?? 'list failed');
      continue;
    }
    for (const s of plan.errored) {
      report.errored.push({ user, id: s.id, type: s.type, error: s.error });
      log.warn({ user, id: s.id, type: s.type, error: s.error }, 'paragon trigger subscription is ERRORED');
    }
    report.unchanged += plan.unchanged.length;
    for (const t of plan.create) {
      const r = await api.create(token, { integration: t.integration, type: t.type, parameters: t.parameters, webhookOverride: desiredOverride(t, webhookUrl) }, t.credentialId);
      if (r.ok) report.created++;
      else fail(`create ${triggerKey(t)}`, r.error);
    }
    for (const u of plan.update) {
      const r = await api.update(token, u.subscription.id, { parameters: u.parameters, webhookOverride: u.webhookOverride });
      if (r.ok) report.updated++;
      else fail(`update ${u.subscription.id}`, r.error);
    }
    for (const s of plan.remove) {
      const r = await api.remove(token, s.id);
      if (r.ok || r.status === 404) report.deleted++;
      else fail(`delete ${s.id}`, r.error);
    }
    // A user no longer configured, with nothing of ours left: done with them.
    if (deps.db && users.get(user)?.length === 0 && report.failures.length === failuresBefore) await forgetTriggerUser(deps.db, user);
  }
  const failed = report.failures.length > 0 || report.errored.length > 0;
  log[failed ? 'warn' : 'info'](
    { ...report, errored: report.errored.length, failures: report.failures.length },
    failed ? 'paragon trigger subscriptions synced, with failures' : 'paragon trigger subscriptions synced',
  );
  return report;
}

/** What `hubsync status` shows of the trigger subscriptions: read from Paragon, nothing changed. */
export interface TriggerStatus {
  users: number;
  /** Managed subscriptions that match the configuration. */
  inSync: number;
  /** What the next sync would do. */
  toCreate: number;
  toUpdate: number;
  toDelete: number;
  errored: TriggerSyncReport['errored'];
  /** Users whose subscriptions could not be listed. */
  failures: { user: string; error: string }[];
}

export async function triggerStatus(config: Pick<Config, 'paragon' | 'http'>, deps: TriggerSyncDeps): Promise<TriggerStatus> {
  const status: TriggerStatus = { users: 0, inSync: 0, toCreate: 0, toUpdate: 0, toDelete: 0, errored: [], failures: [] };
  if (!config.paragon) return status;
  const users = await desiredPerUser(config.paragon, deps);
  if (users.size === 0) return status;
  const api = triggersApi(config.paragon, config, deps);
  for await (const { user, plan, error } of planPerUser(config.paragon, paragonWebhookUrl(config), deps, api, users)) {
    status.users++;
    if (!plan) {
      status.failures.push({ user, error: error ?? 'list failed' });
      continue;
    }
    status.inSync += plan.unchanged.length;
    status.toCreate += plan.create.length;
    status.toUpdate += plan.update.length;
    status.toDelete += plan.remove.length;
    for (const s of plan.errored) status.errored.push({ user, id: s.id, type: s.type, error: s.error });
  }
  return status;
}
