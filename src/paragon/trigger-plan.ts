/**
 * What a trigger sync changes for one Connected User: pure. hubsync's subscriptions are recognised
 * by identity, never only by what Paragon echoes back: first by the ids hubsync recorded when it
 * made them, then by their webhook URL (which names the trigger's key) and type, then by the
 * `webhookOverride.metadata` marker when Paragon echoes it. Anything else (made by the app or by
 * hand) is never touched.
 */
import type { ParagonConfig } from '../config/schema.ts';
import { objectTypeName } from '../hubspot/object-types.ts';
import type { TriggerSubscription, WebhookOverride } from './triggers-api.ts';
import { canonicalJson } from '../webhooks/inbox.ts';

export type TriggerConfig = ParagonConfig['triggers'][number];

const MANAGED_BY = 'hubsync';

/** The query parameter of a subscription's webhook URL that names the trigger it serves. */
const TRIGGER_PARAM = 'trigger';

/**
 * The URL Paragon posts a trigger's events to: the receiver's, with the trigger's key and what the
 * receiver needs to know of the records (portal, object type), since the event body does not say.
 */
export function triggerWebhookUrl(t: TriggerConfig, receiverUrl: string): string {
  const url = new URL(receiverUrl);
  url.searchParams.set(TRIGGER_PARAM, t.key);
  if (t.portalId) url.searchParams.set('portalId', String(t.portalId));
  const objectType = recordObjectType(t);
  if (objectType) url.searchParams.set('objectType', objectType);
  return url.href;
}

/** The object type a trigger's records are (its `recordType` parameter), as hubsync keys types. */
export function recordObjectType(t: TriggerConfig): string | undefined {
  const recordType = t.parameters['recordType'];
  return typeof recordType === 'string' ? objectTypeName(recordType.toLowerCase()) : undefined;
}

/**
 * The webhookOverride hubsync keeps on a subscription: its URL, and metadata marking it managed and
 * naming portal and object type again (Paragon echoes the metadata in each event as
 * `triggerSubscriptionMetadata`).
 */
export function desiredOverride(t: TriggerConfig, receiverUrl: string): WebhookOverride {
  const objectType = recordObjectType(t);
  return {
    url: triggerWebhookUrl(t, receiverUrl),
    metadata: { managedBy: MANAGED_BY, key: t.key, ...(t.portalId ? { portalId: t.portalId } : {}), ...(objectType ? { objectType } : {}) },
  };
}

export interface TriggerPlan {
  create: TriggerConfig[];
  update: { subscription: TriggerSubscription; trigger: TriggerConfig; parameters: Record<string, unknown | null>; webhookOverride: WebhookOverride }[];
  remove: TriggerSubscription[];
  unchanged: TriggerSubscription[];
  /** Managed subscriptions Paragon reports as ERRORED (after repeated delivery failures). */
  errored: TriggerSubscription[];
  /** Subscriptions kept (unchanged or updated) and the trigger each serves: to record by id. */
  keep: { id: string; key: string }[];
  /** Recorded ids Paragon no longer lists (deleted by someone else): to forget. */
  gone: string[];
}

/** The key a managed subscription's metadata or URL names, when either does. */
function markedKey(s: TriggerSubscription, receiverUrl: string): string | undefined {
  const meta = s.webhookOverride?.metadata;
  if (meta?.['managedBy'] === MANAGED_BY && typeof meta['key'] === 'string') return meta['key'];
  const url = s.webhookOverride?.url;
  if (!url || !URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  const base = new URL(receiverUrl);
  return parsed.origin === base.origin && parsed.pathname === base.pathname ? parsed.searchParams.get(TRIGGER_PARAM) ?? undefined : undefined;
}

/** Whether a listed override is the desired one, as far as the listing shows it (Paragon may not echo metadata or headers). */
function sameOverride(listed: WebhookOverride | undefined, desired: WebhookOverride): boolean {
  if (listed?.url !== desired.url) return false;
  return listed.metadata === undefined || canonicalJson(listed.metadata) === canonicalJson(desired.metadata ?? {});
}

/**
 * What to change for one user, given the subscriptions Paragon lists and the ids hubsync recorded
 * (id → trigger key). Pure.
 */
export function planTriggers(desired: readonly TriggerConfig[], existing: readonly TriggerSubscription[], receiverUrl: string, recorded: ReadonlyMap<string, string> = new Map()): TriggerPlan {
  const plan: TriggerPlan = { create: [], update: [], remove: [], unchanged: [], errored: [], keep: [], gone: [] };
  const listed = new Set(existing.map((s) => s.id));
  plan.gone = [...recorded.keys()].filter((id) => !listed.has(id));
  // Each managed subscription with the key it serves: by recorded id, else by its URL or metadata.
  const ours = new Map<TriggerSubscription, string>();
  for (const s of existing) {
    const key = recorded.get(s.id) ?? markedKey(s, receiverUrl);
    if (key === undefined) continue;
    ours.set(s, key);
    if (s.status === 'ERRORED') plan.errored.push(s);
  }
  for (const trigger of desired) {
    const override = desiredOverride(trigger, receiverUrl);
    const matches = [...ours].filter(([s, key]) => key === trigger.key && s.integration === trigger.integration && s.type === trigger.type).map(([s]) => s);
    for (const s of matches) ours.delete(s);
    // Duplicates (a create whose answer was lost, then retried) collapse to one: a recorded one, else an ACTIVE one.
    matches.sort((a, b) => Number(recorded.has(b.id)) - Number(recorded.has(a.id)) || Number(b.status === 'ACTIVE') - Number(a.status === 'ACTIVE'));
    const [keep, ...extra] = matches;
    plan.remove.push(...extra);
    if (!keep) {
      plan.create.push(trigger);
      continue;
    }
    plan.keep.push({ id: keep.id, key: trigger.key });
    if (canonicalJson(keep.parameters ?? {}) === canonicalJson(trigger.parameters) && sameOverride(keep.webhookOverride, override)) {
      plan.unchanged.push(keep);
      continue;
    }
    // PATCH merges parameters shallowly: keys no longer configured are sent as null to remove them.
    const parameters: Record<string, unknown | null> = { ...trigger.parameters };
    for (const k of Object.keys(keep.parameters ?? {})) if (!(k in trigger.parameters)) parameters[k] = null;
    plan.update.push({ subscription: keep, trigger, parameters, webhookOverride: override });
  }
  // Managed subscriptions no trigger claimed: triggers removed from the configuration (or whose type changed).
  plan.remove.push(...ours.keys());
  return plan;
}
