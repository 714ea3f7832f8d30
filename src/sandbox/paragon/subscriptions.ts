import { createHash, randomUUID } from 'node:crypto';
import { resolveObjectType } from '../hubspot/object-types.ts';

export type SubscriptionStatus = 'ACTIVE' | 'ERRORED';

export interface WebhookOverride {
  url: string;
  headers?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

export interface Subscription {
  id: string;
  userId: string;
  integration: string;
  type: string;
  parameters: Record<string, unknown>;
  status: SubscriptionStatus;
  dateCreated: string;
  dateLastReceivedEvent: string | null;
  credentialId: string;
  error?: string;
  webhookOverride?: WebhookOverride;
  /** Events in a row whose delivery failed every retry. */
  consecutiveFailures: number;
}

export interface TriggerDefinition {
  type: string;
  triggerModel: 'POLLING' | 'WEBHOOK';
  title: string;
  description: string;
  parameters: { id: string; type: string; label: string; required: boolean }[];
  /** The HubSpot change kind that fires it (sandbox only; not part of the API shape). */
  fires: 'creation' | 'propertyChange' | 'deletion';
}

const RECORD_TYPE = { id: 'recordType', type: 'TEXT_NO_VARS', label: 'Record Type', required: true };

/** The sandbox's trigger catalog (Paragon's HubSpot record triggers). */
export const TRIGGERS: Record<string, TriggerDefinition[]> = {
  hubspot: [
    { type: 'HUBSPOT_RECORD_CREATED', triggerModel: 'POLLING', title: 'New Record', description: 'Trigger when a new record is created in HubSpot', parameters: [RECORD_TYPE], fires: 'creation' },
    { type: 'HUBSPOT_RECORD_UPDATED', triggerModel: 'POLLING', title: 'Record Updated', description: 'Trigger when a record is updated in HubSpot', parameters: [RECORD_TYPE], fires: 'propertyChange' },
    { type: 'HUBSPOT_RECORD_DELETED', triggerModel: 'WEBHOOK', title: 'Record Deleted', description: 'Trigger when a record is deleted in HubSpot', parameters: [RECORD_TYPE], fires: 'deletion' },
  ],
};

export function findTrigger(integration: string, type: string): TriggerDefinition | undefined {
  return TRIGGERS[integration]?.find((t) => t.type === type);
}

/** The HubSpot object type (path name) a subscription's `recordType` names. */
export function recordObjectType(parameters: Record<string, unknown>): string | undefined {
  const value = parameters['recordType'];
  return typeof value === 'string' ? resolveObjectType(value)?.name : undefined;
}

/** A stable uuid-shaped credential id for a user's connection. */
export function credentialIdFor(userId: string, integration: string): string {
  const h = createHash('sha1').update(`${integration}:${userId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The API's view of a subscription. Paragon's documented responses show `webhookOverride: {url}` only
 * (whether metadata and headers are echoed is not documented): they are left out unless `echo`.
 */
export function subscriptionBody(s: Subscription, echo = true): Record<string, unknown> {
  return {
    id: s.id,
    type: s.type,
    parameters: s.parameters,
    status: s.status,
    dateCreated: s.dateCreated,
    dateLastReceivedEvent: s.dateLastReceivedEvent,
    credentialId: s.credentialId,
    ...(s.error ? { error: s.error } : {}),
    ...(s.webhookOverride ? { webhookOverride: echo ? s.webhookOverride : { url: s.webhookOverride.url } } : {}),
  };
}

export type Validation<T> = { ok: true; value: T } | { ok: false; message: string };

export function parseWebhookOverride(value: unknown): Validation<WebhookOverride | undefined> {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  if (typeof value !== 'object') return { ok: false, message: 'webhookOverride must be an object' };
  const v = value as Record<string, unknown>;
  if (typeof v['url'] !== 'string' || !URL.canParse(v['url'])) return { ok: false, message: 'webhookOverride.url must be a URL' };
  const headers = v['headers'];
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Object.values(headers).some((h) => typeof h !== 'string'))) {
    return { ok: false, message: 'webhookOverride.headers must map names to strings' };
  }
  const metadata = v['metadata'];
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null)) return { ok: false, message: 'webhookOverride.metadata must be an object' };
  return {
    ok: true,
    value: {
      url: v['url'],
      ...(headers ? { headers: headers as Record<string, string> } : {}),
      ...(metadata ? { metadata: metadata as Record<string, unknown> } : {}),
    },
  };
}

/** Every user's subscriptions, and a count of API mutations (what a "second sync changes nothing" test reads). */
export class SubscriptionStore {
  readonly #byId = new Map<string, Subscription>();
  mutations = 0;
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  all(): Subscription[] {
    return [...this.#byId.values()];
  }

  forUser(userId: string): Subscription[] {
    return this.all().filter((s) => s.userId === userId);
  }

  get(userId: string, id: string): Subscription | undefined {
    const s = this.#byId.get(id);
    return s && s.userId === userId ? s : undefined;
  }

  create(input: Omit<Subscription, 'id' | 'status' | 'dateCreated' | 'dateLastReceivedEvent' | 'consecutiveFailures'>): Subscription {
    this.mutations++;
    const s: Subscription = { ...input, id: randomUUID(), status: 'ACTIVE', dateCreated: new Date(this.#now()).toISOString(), dateLastReceivedEvent: null, consecutiveFailures: 0 };
    this.#byId.set(s.id, s);
    return s;
  }

  /** Parameters merge shallowly (null removes a key); a webhookOverride replaces the old one (null removes it). */
  patch(s: Subscription, parameters: Record<string, unknown> | undefined, webhookOverride: WebhookOverride | null | undefined): Subscription {
    this.mutations++;
    if (parameters) {
      const merged = { ...s.parameters };
      for (const [k, v] of Object.entries(parameters)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      s.parameters = merged;
    }
    if (webhookOverride === null) delete s.webhookOverride;
    else if (webhookOverride) s.webhookOverride = webhookOverride;
    return s;
  }

  delete(s: Subscription): void {
    this.mutations++;
    this.#byId.delete(s.id);
  }

  /** Control-surface change of status (not counted as an API mutation). */
  setStatus(s: Subscription, status: SubscriptionStatus, error?: string): void {
    s.status = status;
    if (status === 'ACTIVE') {
      delete s.error;
      s.consecutiveFailures = 0;
    } else s.error = error ?? s.error ?? 'Subscription errored';
  }
}
