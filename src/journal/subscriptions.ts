/**
 * The journal subscriptions hubsync keeps, planned from the configuration like the Paragon
 * triggers: per portal, an OBJECT subscription for each job's object type (with the jobs'
 * properties and the configured filters), an ASSOCIATION subscription between the portal's job
 * types, a GDPR_PRIVACY_DELETION subscription for contacts, and app-wide APP_LIFECYCLE_EVENT
 * ones. Pure; `sync.ts` applies the plan. HubSpot's POST is an upsert on (type, portal, object
 * type), so that triple is a subscription's identity here too.
 */
import type { Config, JournalConfig } from '../config/schema.ts';
import { CUSTOM_TYPE_ID, standardObjectType } from '../hubspot/object-types.ts';
import { canonicalJson } from '../webhooks/inbox.ts';

type SubscriptionType = 'OBJECT' | 'ASSOCIATION' | 'GDPR_PRIVACY_DELETION' | 'APP_LIFECYCLE_EVENT';

export type Condition = JournalConfig['subscriptions']['filters'][string][number][number];

/** One subscription as hubsync wants it: the upsert body, and the filters (each a list of ANDed conditions). */
export interface DesiredSubscription {
  key: string;
  body: {
    subscriptionType: SubscriptionType;
    portalId?: number;
    objectTypeId?: string;
    eventTypeId?: string;
    actions: string[];
    properties?: string[];
    associatedObjectTypeIds?: string[];
  };
  filters: Condition[][];
}

/** A subscription as HubSpot lists it. */
export interface ListedSubscription {
  id: number;
  subscriptionType: string;
  portalId: number | null;
  objectTypeId: string;
  actions: string[];
  properties: string[];
  associatedObjectTypeIds: string[];
}

const APP_INSTALL_EVENT = '4-1909196';
const APP_UNINSTALL_EVENT = '4-1916193';

/** `OBJECT:62515:0-1`; app-wide subscriptions have no portal: `APP_LIFECYCLE_EVENT:app:4-1916193`. */
function subscriptionKey(type: string, portalId: number | null | undefined, objectTypeId: string): string {
  return `${type}:${portalId ?? 'app'}:${objectTypeId}`;
}

/** The object type id of a job's type (`contacts` → `0-1`, `2-3465` as it is); undefined when unknown. */
function objectTypeIdOf(objectType: string): string | undefined {
  return standardObjectType(objectType)?.id ?? (CUSTOM_TYPE_ID.test(objectType) ? objectType : undefined);
}

/** The CRM read scope the journal needs to deliver a type's events. */
function objectReadScope(objectType: string): string {
  if (CUSTOM_TYPE_ID.test(objectType)) return 'crm.objects.custom.read';
  const name = standardObjectType(objectType)?.name ?? objectType;
  return name === 'tickets' ? 'tickets' : `crm.objects.${name}.read`;
}

/** The scopes the token asks for: the journal's and every subscribed type's read scope. */
export function journalScopes(config: Pick<Config, 'jobs'> & { hubspot: { journal?: JournalConfig | undefined } }): string[] {
  return [
    ...new Set([
      'developer.webhooks_journal.read',
      'developer.webhooks_journal.subscriptions.read',
      'developer.webhooks_journal.subscriptions.write',
      ...config.jobs.map((job) => objectReadScope(job.objectType)),
      ...(config.hubspot.journal?.scopes ?? []),
    ]),
  ];
}

/** What the configuration asks for. Types that have no object type id (an unresolved custom name) are left out. */
export function desiredSubscriptions(config: Pick<Config, 'jobs'>, journal: JournalConfig): DesiredSubscription[] {
  const out: DesiredSubscription[] = [];
  const o = journal.subscriptions;
  const portals = [...new Set(config.jobs.map((job) => job.portalId))].sort((a, b) => a - b);
  for (const portalId of portals) {
    const jobs = config.jobs.filter((job) => job.portalId === portalId);
    const types = [...new Set(jobs.map((job) => job.objectType))].filter((type) => objectTypeIdOf(type) !== undefined).sort();
    for (const type of types) {
      const objectTypeId = objectTypeIdOf(type)!;
      const lists = jobs.filter((job) => job.objectType === type).map((job) => job.properties);
      // A job reading every property: the subscription names none (HubSpot then reports every change).
      const properties = lists.includes('all') ? undefined : [...new Set(lists.flat())].sort();
      out.push({
        key: subscriptionKey('OBJECT', portalId, objectTypeId),
        body: { subscriptionType: 'OBJECT', portalId, objectTypeId, actions: ['CREATE', 'UPDATE', 'DELETE', 'MERGE', 'RESTORE'], ...(properties ? { properties } : {}) },
        filters: o.filters[type] ?? [],
      });
      const others = types.filter((t) => t !== type).map((t) => objectTypeIdOf(t)!);
      if (o.associations && others.length > 0) {
        out.push({
          key: subscriptionKey('ASSOCIATION', portalId, objectTypeId),
          body: { subscriptionType: 'ASSOCIATION', portalId, objectTypeId, actions: ['ASSOCIATION_ADDED', 'ASSOCIATION_REMOVED'], associatedObjectTypeIds: others },
          filters: [],
        });
      }
      if (o.privacyDeletions && type === 'contacts') {
        out.push({ key: subscriptionKey('GDPR_PRIVACY_DELETION', portalId, objectTypeId), body: { subscriptionType: 'GDPR_PRIVACY_DELETION', portalId, objectTypeId, actions: ['GDPR_DELETE'] }, filters: [] });
      }
    }
  }
  if (o.appLifecycle) {
    for (const [eventTypeId, action] of [[APP_INSTALL_EVENT, 'APP_INSTALL'], [APP_UNINSTALL_EVENT, 'APP_UNINSTALL']] as const) {
      out.push({ key: subscriptionKey('APP_LIFECYCLE_EVENT', null, eventTypeId), body: { subscriptionType: 'APP_LIFECYCLE_EVENT', eventTypeId, actions: [action] }, filters: [] });
    }
  }
  return out;
}

/** Whether a listed subscription already is what the body asks for (lists compared as sets). */
function matchesBody(listed: ListedSubscription, body: DesiredSubscription['body']): boolean {
  const same = (a: readonly string[] = [], b: readonly string[] = []) => canonicalJson([...new Set(a)].sort()) === canonicalJson([...new Set(b)].sort());
  return same(listed.actions, body.actions) && same(listed.properties, body.properties) && same(listed.associatedObjectTypeIds, body.associatedObjectTypeIds);
}

/** A filter as a canonical string (its conditions are ANDed: their order means nothing). */
export function filterKey(conditions: readonly Condition[]): string {
  return canonicalJson(conditions.map((c) => canonicalJson(c)).sort());
}

export interface SubscriptionPlan {
  create: DesiredSubscription[];
  /** Managed subscriptions whose actions or properties differ: upserted again. */
  update: { id: number; desired: DesiredSubscription }[];
  unchanged: { id: number; desired: DesiredSubscription }[];
  /** Managed subscriptions the configuration no longer asks for. */
  remove: ListedSubscription[];
  /** Wanted, but a subscription hubsync does not manage holds the same identity: left alone and reported. */
  conflicts: { desired: DesiredSubscription; id: number }[];
}

/**
 * What to change. `managed` holds the ids hubsync made (`journal_subscriptions`); anything else
 * HubSpot lists is someone else's and never touched.
 */
export function planSubscriptions(desired: readonly DesiredSubscription[], listed: readonly ListedSubscription[], managed: ReadonlySet<number>): SubscriptionPlan {
  const plan: SubscriptionPlan = { create: [], update: [], unchanged: [], remove: [], conflicts: [] };
  const byKey = new Map(listed.map((s) => [subscriptionKey(s.subscriptionType, s.portalId, s.objectTypeId), s]));
  const wanted = new Set(desired.map((d) => d.key));
  for (const d of desired) {
    const existing = byKey.get(d.key);
    if (!existing) plan.create.push(d);
    else if (!managed.has(existing.id)) plan.conflicts.push({ desired: d, id: existing.id });
    else if (matchesBody(existing, d.body)) plan.unchanged.push({ id: existing.id, desired: d });
    else plan.update.push({ id: existing.id, desired: d });
  }
  for (const s of listed) {
    if (managed.has(s.id) && !wanted.has(subscriptionKey(s.subscriptionType, s.portalId, s.objectTypeId))) plan.remove.push(s);
  }
  return plan;
}

/** A subscription from HubSpot's listing, defensively (fields may be absent or null). */
export function listedSubscription(raw: unknown): ListedSubscription | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  const id = Number(r.id);
  if (!Number.isSafeInteger(id) || typeof r.subscriptionType !== 'string') return undefined;
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    id,
    subscriptionType: r.subscriptionType,
    portalId: r.portalId === undefined || r.portalId === null ? null : Number(r.portalId),
    objectTypeId: String(r.objectTypeId ?? r.eventTypeId ?? ''),
    actions: strings(r.actions),
    properties: strings(r.properties),
    associatedObjectTypeIds: strings(r.associatedObjectTypeIds),
  };
}
