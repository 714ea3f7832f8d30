import type { Logger } from 'pino';
import { Accounts, type AccountOptions, type ApiFault } from './accounts.ts';
import type { ChangeListener } from './changes.ts';
import { ChangeStream, propertiesFor, type StreamOp } from './change-stream.ts';
import type { Clock } from './clock.ts';
import type { LimitPolicy } from './limits.ts';
import { resolveObjectType, type ObjectTypeDef } from './object-types.ts';
import { createRng } from './random.ts';
import { WebhooksJournal, type JournalOptions } from './journal/journal.ts';
import { sampleValue, type CustomPropertyCounts } from './properties.ts';
import { HubSpotStore, type MutationOptions, type MutationResult, type StoredObject } from './store.ts';
import { truth, type PortalTruth } from './truth.ts';
import { WebhookDelivery, type AppOptions, type DeliveryRecord, type WebhookFaults } from './webhooks.ts';
import { WorkflowWebhooks, type WorkflowDeliveryOptions, type WorkflowOptions, type WorkflowPostRecord } from './workflows.ts';

export interface HubSpotOptions {
  /** Default: one Professional private app on portal 62515 with token `pat-sandbox-62515`. */
  accounts?: AccountOptions[];
  apps?: AppOptions[];
  workflows?: WorkflowOptions[];
  faults?: Partial<WebhookFaults>;
  /** Search-index lag in HubSpot ms (scaled). */
  indexLagMs?: number;
  /** Associations per object in one page of a v4 batch read (HubSpot: 500). */
  associationPageSize?: number;
  /** Seeds the delivery PRNG (fault decisions, retry jitter). */
  seed?: number;
  /** Webhook receiver timeout, retries and first retry delay (HubSpot ms, scaled). */
  delivery?: { timeoutMs?: number; maxRetries?: number; retryBaseMs?: number };
  /** The Webhooks Journal: its apps (client credentials), retention, limits, variants and faults. */
  journal?: JournalOptions;
  /** Workflow webhook actions' timeout and retries (HubSpot ms, scaled); default HubSpot's published policy. */
  workflowDelivery?: WorkflowDeliveryOptions;
  /** Custom properties per object type (name or id) beyond HubSpot's own; default a portal some years in use (DEFAULT_CUSTOM_PROPERTIES). */
  customProperties?: CustomPropertyCounts;
  /**
   * Longest request URL (path and query) the API accepts; longer ones get 414. HubSpot documents no limit;
   * integrations report 414s from about 16,000 characters (PostHog's HubSpot source measured "around 16.2k"),
   * some from 8,000. Default 16,000.
   */
  maxUrlLength?: number;
}

export interface SeedOptions {
  portalId?: number;
  objectType: string;
  count: number;
  /** One HubSpot timestamp for all of them (ties), default now. */
  at?: number;
  /** Properties of the i-th record; default realistic generated ones. */
  properties?: (i: number) => Record<string, string>;
  /** Notify listeners (webhooks) too; default false. */
  emit?: boolean;
  /** Also give every writable property of the type (custom ones included) a value. */
  allProperties?: boolean;
}

export const DEFAULT_PORTAL_ID = 62515;

/** The HubSpot half of the sandbox: CRM store, accounts and limits, webhook and workflow delivery, truth. */
export class HubSpotSandbox {
  readonly clock: Clock;
  readonly store: HubSpotStore;
  readonly accounts: Accounts;
  readonly webhooks: WebhookDelivery;
  readonly workflows: WorkflowWebhooks;
  readonly journal: WebhooksJournal;
  readonly defaultPortalId: number;
  readonly maxUrlLength: number;
  readonly #accountOptions: AccountOptions[];
  readonly #tickers = new Set<NodeJS.Timeout>();

  constructor(options: HubSpotOptions, clock: Clock, log?: Logger) {
    this.clock = clock;
    this.store = new HubSpotStore(clock, options.customProperties);
    this.maxUrlLength = options.maxUrlLength ?? 16_000;
    this.store.indexLagMs = options.indexLagMs ?? 0;
    if (options.associationPageSize !== undefined) this.store.associationPageSize = options.associationPageSize;
    this.#accountOptions = options.accounts ?? [{ portalId: DEFAULT_PORTAL_ID, accessToken: `pat-sandbox-${DEFAULT_PORTAL_ID}`, tier: 'professional' }];
    this.defaultPortalId = this.#accountOptions[0]?.portalId ?? DEFAULT_PORTAL_ID;
    this.accounts = new Accounts(this.#accountOptions, clock);
    const rng = createRng(options.seed ?? 1);
    this.webhooks = new WebhookDelivery({ clock, rng, apps: options.apps ?? [], ...(options.faults ? { faults: options.faults } : {}), ...options.delivery });
    this.workflows = new WorkflowWebhooks({ clock, rng, workflows: options.workflows ?? [], ...(options.workflowDelivery ? { delivery: options.workflowDelivery } : {}) });
    this.journal = new WebhooksJournal({ seed: options.seed ?? 1, ...options.journal }, clock, () => this.#accountOptions.map((a) => a.portalId));
    this.store.onChange((c) => this.webhooks.handle(c));
    this.store.onChange((c) => this.workflows.handle(c));
    this.store.onChange((c) => this.journal.handle(c));
    log?.debug({ portals: this.#accountOptions.map((a) => a.portalId) }, 'hubspot sandbox ready');
  }

  /** Every mutation, after it is applied: `{portalId, objectType, objectId, kind, properties, ...}`. */
  onChange(listener: ChangeListener): () => void {
    return this.store.onChange(listener);
  }

  accountOptions(): readonly AccountOptions[] {
    return this.#accountOptions;
  }

  type(name: string): ObjectTypeDef {
    const t = resolveObjectType(name);
    if (!t) throw new Error(`unknown object type: ${name}`);
    return t;
  }

  /** Bulk-creates records, by default silently and all with one timestamp; returns their ids in order. */
  seed(o: SeedOptions): string[] {
    const type = this.type(o.objectType);
    const at = o.at ?? this.clock.now();
    const rng = createRng(o.count);
    const ids: string[] = [];
    const portalId = o.portalId ?? this.defaultPortalId;
    const writable = o.allProperties ? this.store.properties(portalId).list(type).filter((d) => !d.modificationMetadata.readOnlyValue && !d.calculated) : [];
    for (let i = 0; i < o.count; i++) {
      const generated = o.properties ? o.properties(i) : propertiesFor(type, rng, true);
      const props = writable.length > 0 ? { ...Object.fromEntries(writable.map((d, k) => [d.name, sampleValue(d, i + k)])), ...generated } : generated;
      ids.push(this.store.create(portalId, type, props, { at, silent: !o.emit }).id);
    }
    return ids;
  }

  /** The names `GET /crm/v3/properties/{objectType}` lists for a portal. */
  propertyNames(objectType: string, portalId = this.defaultPortalId): string[] {
    return this.store.properties(portalId).list(this.type(objectType)).map((d) => d.name);
  }

  create(objectType: string, properties: Record<string, string | null>, opts: MutationOptions & { portalId?: number } = {}): StoredObject {
    return this.store.create(opts.portalId ?? this.defaultPortalId, this.type(objectType), properties, opts);
  }

  update(objectType: string, id: string, properties: Record<string, string | null>, opts: MutationOptions & { portalId?: number } = {}): MutationResult {
    return this.store.update(opts.portalId ?? this.defaultPortalId, this.type(objectType), id, properties, opts);
  }

  archive(objectType: string, id: string, opts: MutationOptions & { portalId?: number } = {}): MutationResult {
    return this.store.archive(opts.portalId ?? this.defaultPortalId, this.type(objectType), id, opts);
  }

  restore(objectType: string, id: string, opts: MutationOptions & { portalId?: number } = {}): MutationResult {
    return this.store.restore(opts.portalId ?? this.defaultPortalId, this.type(objectType), id, opts);
  }

  merge(objectType: string, primaryId: string, mergeId: string, opts: MutationOptions & { portalId?: number } = {}): MutationResult {
    return this.store.merge(opts.portalId ?? this.defaultPortalId, this.type(objectType), primaryId, mergeId, opts);
  }

  privacyDelete(id: string, opts: MutationOptions & { portalId?: number } = {}): MutationResult {
    return this.store.privacyDelete(opts.portalId ?? this.defaultPortalId, this.type('contacts'), id, opts);
  }

  associate(fromType: string, fromId: string, toType: string, toId: string, opts: MutationOptions & { portalId?: number; remove?: boolean } = {}): MutationResult {
    const p = opts.portalId ?? this.defaultPortalId;
    return opts.remove
      ? this.store.dissociate(p, this.type(fromType), fromId, this.type(toType), toId, opts)
      : this.store.associate(p, this.type(fromType), fromId, this.type(toType), toId, opts);
  }

  /**
   * Applies `count` changes from the seeded stream. With `startAt`, change i happens at startAt + i*stepMs, so two
   * runs with the same seed produce identical truth; without it, changes happen now.
   */
  runStream(o: { seed: number; count: number; portalId?: number; startAt?: number; stepMs?: number; stream?: ChangeStream }): StreamOp[] {
    const stream = o.stream ?? new ChangeStream(o.seed);
    const ops: StreamOp[] = [];
    for (let i = 0; i < o.count; i++) {
      const at = o.startAt !== undefined ? o.startAt + i * (o.stepMs ?? 1000) : this.clock.now();
      ops.push(stream.next(this.store, o.portalId ?? this.defaultPortalId, at));
    }
    return ops;
  }

  /** Keeps applying stream changes, `perTick` every `intervalMs` (wall ms, not scaled), until the returned stop. */
  startStream(o: { seed: number; intervalMs: number; perTick?: number; portalId?: number }): () => void {
    const stream = new ChangeStream(o.seed);
    const t = setInterval(() => this.runStream({ seed: o.seed, count: o.perTick ?? 1, stream, ...(o.portalId !== undefined ? { portalId: o.portalId } : {}) }), o.intervalMs);
    this.#tickers.add(t);
    return () => {
      clearInterval(t);
      this.#tickers.delete(t);
    };
  }

  setFaults(faults: Partial<WebhookFaults>): WebhookFaults {
    return this.webhooks.setFaults(faults);
  }

  setIndexLag(ms: number): void {
    this.store.indexLagMs = ms;
  }

  /** Makes the next call of the given portal's tokens (or all) hit that policy's 429. */
  exhaustLimit(policy: LimitPolicy, portalId?: number): void {
    for (const a of portalId === undefined ? this.accounts.list() : this.accounts.forPortal(portalId)) a.limiter.exhaust(policy);
  }

  resetLimits(portalId?: number): void {
    for (const a of portalId === undefined ? this.accounts.list() : this.accounts.forPortal(portalId)) a.limiter.reset();
  }

  /** The next `count` API calls answer `status` (429 with a policy body, or a 5xx). */
  failNext(fault: ApiFault): void {
    this.accounts.injectFault(fault);
  }

  truth(portalId?: number): PortalTruth[] {
    return truth(this.store, portalId === undefined ? undefined : [portalId]);
  }

  deliveries(): readonly DeliveryRecord[] {
    return this.webhooks.records();
  }

  workflowDeliveries(): readonly WorkflowPostRecord[] {
    return this.workflows.records();
  }

  /** Resolves when no webhook or workflow post is queued, in flight or awaiting a retry, and the journal has written every event. */
  async idle(): Promise<void> {
    await Promise.all([this.webhooks.idle(), this.workflows.idle(), this.journal.idle()]);
  }

  async stop(): Promise<void> {
    for (const t of this.#tickers) clearInterval(t);
    this.#tickers.clear();
    await Promise.all([this.webhooks.stop(), this.workflows.stop()]);
  }
}
