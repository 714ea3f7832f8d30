/**
 * Webhooks Journal subscriptions (2026-03): the upsert bodies of the four types hubsync uses
 * (OBJECT, ASSOCIATION, GDPR_PRIVACY_DELETION, APP_LIFECYCLE_EVENT, plus LIST_MEMBERSHIP), their
 * filters, and which subscription a change matches. Per app; a POST with the same (type, portal,
 * object type) — or event type for app lifecycle — updates the existing subscription (an upsert).
 */
import { resolveObjectType } from '../object-types.ts';

export const SUBSCRIPTION_TYPES = ['OBJECT', 'ASSOCIATION', 'GDPR_PRIVACY_DELETION', 'APP_LIFECYCLE_EVENT', 'LIST_MEMBERSHIP'] as const;
export type SubscriptionType = (typeof SUBSCRIPTION_TYPES)[number];

export const ACTIONS = [
  'CREATE', 'UPDATE', 'DELETE', 'MERGE', 'RESTORE', 'ASSOCIATION_ADDED', 'ASSOCIATION_REMOVED', 'SNAPSHOT',
  'APP_INSTALL', 'APP_UNINSTALL', 'ADDED_TO_LIST', 'REMOVED_FROM_LIST', 'GDPR_DELETE',
] as const;
export type Action = (typeof ACTIONS)[number];

/** The actions that make sense for each subscription type. */
const ALLOWED: Record<SubscriptionType, readonly Action[]> = {
  OBJECT: ['CREATE', 'UPDATE', 'DELETE', 'MERGE', 'RESTORE', 'SNAPSHOT'],
  ASSOCIATION: ['ASSOCIATION_ADDED', 'ASSOCIATION_REMOVED'],
  GDPR_PRIVACY_DELETION: ['GDPR_DELETE'],
  APP_LIFECYCLE_EVENT: ['APP_INSTALL', 'APP_UNINSTALL'],
  LIST_MEMBERSHIP: ['ADDED_TO_LIST', 'REMOVED_FROM_LIST'],
};

/** The app lifecycle event type ids: install and uninstall. */
export const APP_EVENT_TYPE_IDS = { APP_INSTALL: '4-1909196', APP_UNINSTALL: '4-1916193' } as const;

export const OPERATORS = ['EQ', 'N_EQ', 'LT', 'GT', 'LTE', 'GTE', 'CONTAINS', 'STARTS_WITH', 'ENDS_WITH', 'IN', 'NOT_IN', 'IS_EMPTY', 'IS_NOT_EMPTY'] as const;

export interface Condition {
  filterType: 'CRM_OBJECT_PROPERTY';
  property: string;
  operator: (typeof OPERATORS)[number];
  value?: string;
  values?: string[];
}

export interface Filter {
  id: number;
  createdAt: number;
  conditions: Condition[];
}

export interface JournalSubscription {
  id: number;
  appId: number;
  subscriptionType: SubscriptionType;
  /** `0-1` etc.; for app lifecycle subscriptions the event type id. */
  objectTypeId: string;
  portalId: number | null;
  actions: Action[];
  properties: string[];
  objectIds: number[];
  associatedObjectTypeIds: string[];
  listIds: number[];
  filters: Filter[];
  createdAt: number;
  updatedAt: number;
}

type Body = Record<string, unknown>;

const strings = (value: unknown): string[] | undefined => (Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined);
const numbers = (value: unknown): number[] | undefined =>
  Array.isArray(value) && value.every((v) => typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) ? value.map(Number) : undefined;

/** The object type ids HubSpot accepts: `0-n` standard ones the sandbox serves and custom `2-n`. */
function knownTypeId(id: unknown): id is string {
  return typeof id === 'string' && /^[02]-\d+$/.test(id) && resolveObjectType(id) !== undefined;
}

export type UpsertInput = Omit<JournalSubscription, 'id' | 'appId' | 'filters' | 'createdAt' | 'updatedAt'>;

/** Validates an upsert body; a string says what is wrong (a 400 VALIDATION_ERROR). */
export function parseUpsert(body: Body, installed: (portalId: number) => boolean): UpsertInput | string {
  const type = body.subscriptionType;
  if (!SUBSCRIPTION_TYPES.includes(type as SubscriptionType)) return `subscriptionType must be one of ${SUBSCRIPTION_TYPES.join(', ')}`;
  const subscriptionType = type as SubscriptionType;
  const actions = strings(body.actions);
  if (!actions || actions.length === 0) return 'actions must be a non-empty list';
  const bad = actions.filter((a) => !ALLOWED[subscriptionType].includes(a as Action));
  if (bad.length > 0) return `actions ${bad.join(', ')} are not valid for ${subscriptionType} subscriptions`;
  const common = {
    subscriptionType,
    actions: [...new Set(actions)] as Action[],
    properties: strings(body.properties) ?? [],
    objectIds: numbers(body.objectIds) ?? [],
    associatedObjectTypeIds: strings(body.associatedObjectTypeIds) ?? [],
    listIds: numbers(body.listIds) ?? [],
  };
  if (subscriptionType === 'APP_LIFECYCLE_EVENT') {
    const eventTypeId = body.eventTypeId;
    if (eventTypeId !== APP_EVENT_TYPE_IDS.APP_INSTALL && eventTypeId !== APP_EVENT_TYPE_IDS.APP_UNINSTALL) {
      return `eventTypeId must be ${APP_EVENT_TYPE_IDS.APP_INSTALL} (install) or ${APP_EVENT_TYPE_IDS.APP_UNINSTALL} (uninstall)`;
    }
    return { ...common, objectTypeId: eventTypeId, portalId: null };
  }
  const portalId = typeof body.portalId === 'number' ? body.portalId : Number(body.portalId);
  if (!Number.isSafeInteger(portalId) || portalId <= 0) return 'portalId is required';
  if (!installed(portalId)) return `the app is not installed in portal ${portalId}`;
  if (subscriptionType === 'LIST_MEMBERSHIP') return { ...common, objectTypeId: '0-45', portalId };
  if (!knownTypeId(body.objectTypeId)) return `objectTypeId ${String(body.objectTypeId)} is not a known object type id`;
  if (subscriptionType === 'ASSOCIATION' && !common.associatedObjectTypeIds.every(knownTypeId)) return 'associatedObjectTypeIds must be object type ids';
  return { ...common, objectTypeId: body.objectTypeId, portalId };
}

/** The identity an upsert matches an existing subscription on. */
export function upsertKey(s: Pick<JournalSubscription, 'subscriptionType' | 'portalId' | 'objectTypeId'>): string {
  return `${s.subscriptionType}:${s.portalId ?? ''}:${s.objectTypeId}`;
}

/** A filter's conditions, or what is wrong with them. */
export function parseFilter(body: Body): Condition[] | string {
  const filter = body.filter as Body | undefined;
  const conditions = filter?.conditions;
  if (!Array.isArray(conditions) || conditions.length === 0) return 'filter.conditions must be a non-empty list';
  const out: Condition[] = [];
  for (const raw of conditions as Body[]) {
    if (raw?.filterType !== 'CRM_OBJECT_PROPERTY') return 'filterType must be CRM_OBJECT_PROPERTY';
    if (typeof raw.property !== 'string' || raw.property === '') return 'property is required';
    if (!OPERATORS.includes(raw.operator as Condition['operator'])) return `operator must be one of ${OPERATORS.join(', ')}`;
    out.push({
      filterType: 'CRM_OBJECT_PROPERTY',
      property: raw.property,
      operator: raw.operator as Condition['operator'],
      ...(typeof raw.value === 'string' ? { value: raw.value } : {}),
      ...(strings(raw.values) ? { values: strings(raw.values)! } : {}),
    });
  }
  return out;
}

function holds(c: Condition, properties: Readonly<Record<string, string>>): boolean {
  const actual = properties[c.property] ?? '';
  const value = c.value ?? '';
  const num = (s: string) => Number(s);
  switch (c.operator) {
    case 'EQ': return actual === value;
    case 'N_EQ': return actual !== value;
    case 'LT': return num(actual) < num(value);
    case 'GT': return num(actual) > num(value);
    case 'LTE': return num(actual) <= num(value);
    case 'GTE': return num(actual) >= num(value);
    case 'CONTAINS': return actual.includes(value);
    case 'STARTS_WITH': return actual.startsWith(value);
    case 'ENDS_WITH': return actual.endsWith(value);
    case 'IN': return (c.values ?? []).includes(actual);
    case 'NOT_IN': return !(c.values ?? []).includes(actual);
    case 'IS_EMPTY': return actual === '';
    case 'IS_NOT_EMPTY': return actual !== '';
  }
}

/**
 * Whether a CREATE or UPDATE passes the subscription's filters: conditions within a filter are
 * ANDed, filters ORed; no filters lets everything through. Other actions are never filtered.
 */
export function passesFilters(s: JournalSubscription, action: Action, properties: Readonly<Record<string, string>>): boolean {
  if (s.filters.length === 0 || (action !== 'CREATE' && action !== 'UPDATE')) return true;
  return s.filters.some((f) => f.conditions.every((c) => holds(c, properties)));
}

/** The response body of a subscription. */
export function subscriptionResponse(s: JournalSubscription): Record<string, unknown> {
  return {
    id: s.id,
    appId: s.appId,
    subscriptionType: s.subscriptionType,
    objectTypeId: s.objectTypeId,
    ...(s.portalId !== null ? { portalId: s.portalId } : {}),
    actions: s.actions,
    properties: s.properties,
    objectIds: s.objectIds,
    associatedObjectTypeIds: s.associatedObjectTypeIds,
    listIds: s.listIds,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  };
}

export function filterResponse(f: Filter): Record<string, unknown> {
  return { id: f.id, createdAt: f.createdAt, filter: { conditions: f.conditions } };
}
