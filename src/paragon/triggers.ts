/**
 * Keeps each connected user's Paragon trigger subscriptions as the configuration declares them
 * (`paragon.triggers`). `trigger-plan.ts` decides what to change; this applies it, recording the
 * ids of the subscriptions hubsync makes, so a second run against an unchanged configuration makes
 * no API calls beyond the listings, whatever Paragon echoes back.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config, ParagonConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { forgetTriggerUser, managedTriggerUsers, rememberTriggerUsers } from './trigger-user-store.ts';
import { forgetTriggerSubscriptions, recordedTriggerSubscriptions, recordTriggerSubscriptions } from './trigger-subscription-store.ts';
import { HubsyncError } from '../errors.ts';
import type { Fetch } from './http.ts';
import { createUserTokenSigner } from './token.ts';
import { desiredOverride, planTriggers, recordObjectType, type TriggerConfig, type TriggerPlan } from './trigger-plan.ts';
import { recordVersion } from '../webhooks/records.ts';
import { createTriggersApi, type TriggersApi } from './triggers-api.ts';

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

/** Lists each user's subscriptions (read only) and plans what a sync would change, by the ids recorded for them. */
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
    const recorded = deps.db ? await recordedTriggerSubscriptions(deps.db, user) : new Map<string, string>();
    yield listed.ok
      ? { user, token, plan: planTriggers(desired, listed.value, webhookUrl, recorded), error: undefined }
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
    const record = deps.db;
    // Recognised subscriptions are recorded by id before anything changes; gone ones forgotten.
    if (record) {
      await recordTriggerSubscriptions(record, user, plan.keep, new Date());
      await forgetTriggerSubscriptions(record, user, plan.gone);
    }
    for (const t of plan.create) {
      const r = await api.create(token, { integration: t.integration, type: t.type, parameters: t.parameters, webhookOverride: desiredOverride(t, webhookUrl) }, t.credentialId);
      if (!r.ok) fail(`create ${t.key}`, r.error);
      else {
        report.created++;
        if (record) await recordTriggerSubscriptions(record, user, [{ id: r.value.id, key: t.key }], new Date());
      }
    }
    for (const u of plan.update) {
      const r = await api.update(token, u.subscription.id, { parameters: u.parameters, webhookOverride: u.webhookOverride });
      if (r.ok) report.updated++;
      else fail(`update ${u.subscription.id}`, r.error);
    }
    for (const s of plan.remove) {
      const r = await api.remove(token, s.id);
      if (!(r.ok || r.status === 404)) fail(`delete ${s.id}`, r.error);
      else {
        report.deleted++;
        if (record) await forgetTriggerSubscriptions(record, user, [s.id]);
      }
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

/** What one configured trigger's events will carry, by Paragon's example (`POST /triggers/examples`). */
export interface TriggerExample {
  user: string;
  key: string;
  type: string;
  /** Example records, or why Paragon gave none. */
  records?: Record<string, unknown>[];
  error?: string;
  /** Whether the records carry a last-modified field hubsync can order them by; without one, each event makes hubsync read the record. */
  versioned?: boolean;
}

/** Fetches the example payload of every configured trigger (read only), for `hubsync triggers sync --examples`. */
export async function triggerExamples(config: Pick<Config, 'paragon' | 'http'>, deps: TriggerSyncDeps): Promise<TriggerExample[]> {
  if (!config.paragon) throw new TriggerSyncError('paragon is not configured');
  const paragon = config.paragon;
  const api = triggersApi(paragon, config, deps);
  const signer = createUserTokenSigner({ projectId: paragon.projectId, signingKey: paragon.signingKey, ttlSeconds: paragon.tokenTtlSeconds });
  const examples: TriggerExample[] = [];
  for (const t of paragon.triggers) {
    if (deps.signal?.aborted) break;
    const r = await api.examples(await signer.token(t.user), { integration: t.integration, type: t.type, parameters: t.parameters }, t.credentialId);
    const base = { user: t.user, key: t.key, type: t.type };
    // Versioned as the receiver judges a record of this trigger's type (records.ts).
    const objectType = recordObjectType(t) ?? '';
    examples.push(r.ok
      ? { ...base, records: r.value, versioned: r.value.length > 0 && r.value.every((record) => recordVersion(record, objectType) !== undefined) }
      : { ...base, error: r.error });
  }
  return examples;
}

