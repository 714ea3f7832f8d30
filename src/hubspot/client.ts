/**
 * HubSpot API access per account: `@hubspot/api-client` pointed at `hubspot.baseUrl`, with its own
 * retries and Bottleneck limiter off (v14 only installs the limiter when `limiterOptions` is set and
 * retries when `numberOfApiCallRetries > 0`), every call through the account's `AccountBudget`, and
 * `ApiException`s turned into typed values.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { Client } from '@hubspot/api-client';
import type { Logger } from 'pino';
import type { Config, HubSpotAccountConfig } from '../config/schema.ts';
import { TIERS } from '../config/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { AccountBudget, type CallStats } from './budget.ts';
import { policyOf, type Pause } from './limits.ts';
import { retryAfterMs } from '../retry-after.ts';
import type { HubSpotObject, HubSpotReader, Priority } from './objects.ts';
import { createObjectTypeResolver, type CustomObjectSchema, type ObjectTypeResolver } from './schemas.ts';
import { associationObservations, toAssociationPage, type AssociationPage, type AssociationPageInput } from './associations.ts';
import { describeFailure, type CallOutcome, type CallResult } from './outcome.ts';
import { createPropertyCatalog, listUrlLength, MAX_LIST_URL_LENGTH, type PropertyCatalog } from './properties.ts';

/** A type's property list is read again after an hour; a name it lacks re-reads it, at most once a minute. */
const PROPERTY_LIST_TTL_MS = 3_600_000;
const PROPERTY_LIST_MIN_REFRESH_MS = 60_000;

export interface SearchFilter {
  propertyName: string;
  operator: 'EQ' | 'GT' | 'GTE' | 'LT' | 'LTE' | 'NEQ' | 'HAS_PROPERTY';
  value?: string;
}

export interface SearchRequest {
  filterGroups: { filters: SearchFilter[] }[];
  sorts: { propertyName: string; direction: 'ASCENDING' | 'DESCENDING' }[];
  properties?: readonly string[];
  limit: number;
  after?: string;
}

export interface Page {
  results: HubSpotObject[];
  /** Search only: every match of the query. */
  total?: number;
  after: string | undefined;
}

export interface CallOptions {
  signal?: AbortSignal;
  stats?: CallStats;
}

/** Batch reads may ask for archived records instead of live ones (`?archived=true`). */
export interface BatchReadOptions extends CallOptions {
  archived?: boolean;
}

/** One portal's API: every method waits for the shared budget and retries what may be retried. */
export interface HubSpotAccount {
  readonly portalId: number;
  readonly budget: AccountBudget;
  search(objectType: string, request: SearchRequest, priority: Priority, opts?: CallOptions): Promise<CallResult<Page>>;
  /** List endpoint (`GET /crm/v3/objects/{type}`), live or `archived=true`; limit up to 100. */
  listPage(
    objectType: string,
    page: { limit: number; after?: string; properties?: readonly string[]; archived?: boolean },
    priority: Priority,
    opts?: CallOptions,
  ): Promise<CallResult<Page>>;
  /** Batch read of up to 100 ids; `all` reads every property the type has (from `properties`). */
  batchRead(objectType: string, ids: readonly string[], properties: readonly string[] | 'all', priority: Priority, opts?: BatchReadOptions): Promise<CallResult<{ results: HubSpotObject[]; missing: string[] }>>;
  /** One page of each input object's associations to a type (v4 batch read, up to 100 inputs). */
  associationPage(fromType: string, toType: string, inputs: readonly AssociationPageInput[], priority: Priority, opts?: CallOptions): Promise<CallResult<AssociationPage>>;
  /** The portal's property names per type, cached. */
  readonly properties: PropertyCatalog;
  /** The portal's custom object types (`GET /crm/v3/schemas`). */
  customSchemas(opts?: CallOptions): Promise<CallResult<CustomObjectSchema[]>>;
  /** Property names of the object type (`GET /crm/v3/properties/{type}`); a 404 when the API has none. */
  propertyNames(objectType: string, opts?: CallOptions): Promise<CallResult<string[]>>;
}

export interface HubSpotAccounts {
  get(portalId: number): HubSpotAccount | undefined;
  list(): HubSpotAccount[];
  /** Batch reads for webhook hydration; throws when a read cannot be had (the processor retries). */
  reader: HubSpotReader;
  /** Object type names and ids as hubsync keys them, custom ones through each portal's schemas. */
  types: ObjectTypeResolver;
  /** Stops admitting calls (waiters get `aborted`). */
  close(): void;
}

export interface AccountsDeps {
  log: Logger;
  metrics?: Metrics;
  /** Scales the budget's assumed durations (a time-scaled sandbox); default 1. */
  timeScale?: number;
  /** Daily pauses from earlier runs, and where to persist new ones. */
  restoredPauses?: readonly { portalId: number; until: Date }[];
  onPause?: (portalId: number, pause: Pause) => void;
}

/** Builds one client and one budget per configured account. */
export function createHubSpotAccounts(config: Config['hubspot'], deps: AccountsDeps): HubSpotAccounts {
  const accounts = new Map<number, HubSpotAccount>();
  for (const account of config.accounts) {
    accounts.set(account.portalId, createAccount(config.baseUrl, config.requestTimeoutMs, account, deps));
  }
  for (const p of deps.restoredPauses ?? []) accounts.get(p.portalId)?.budget.restorePause(p.until.getTime());
  const types = createObjectTypeResolver({
    load: async (portalId) => accounts.get(portalId)?.customSchemas() ?? { ok: false, failure: 'client', status: 404, message: `no hubspot.accounts entry for portal ${portalId}`, body: null },
  });
  /** The account a hydration names by its portal: one the configuration lacks fails the event. */
  const accountOf = (portalId: number): HubSpotAccount => {
    const account = accounts.get(portalId);
    if (!account) throw new Error(`no hubspot.accounts entry for portal ${portalId}`);
    return account;
  };
  const reader: HubSpotReader = {
    async batchRead(portalId, objectType, ids, properties, priority, signal) {
      const result = await accountOf(portalId).batchRead(objectType, ids, properties, priority, signal ? { signal } : {});
      if (!result.ok) throw new Error(`batch read of ${objectType} failed: ${describeFailure(result)}`);
      return result.value;
    },
    pausedUntil: (portalId) => accounts.get(portalId)?.budget.pausedUntil(),
    observeProperties: (portalId, objectType, names) => accounts.get(portalId)?.properties.observe(objectType, names),
    async readAssociations(portalId, objectType, toTypes, ids, priority, signal) {
      const result = await associationObservations(accountOf(portalId), objectType, toTypes, ids, priority, 'hydration', () => new Date(), signal ? { signal } : {});
      if (!result.ok) throw new Error(`association read of ${objectType} failed: ${describeFailure(result)}`);
      return result.value;
    },
    objectType(portalId, nameOrId) {
      const known = types.known(portalId, nameOrId);
      if (known === undefined) {
        types.resolve(portalId, nameOrId).catch((err: unknown) => deps.log.warn({ err, portalId }, 'custom object schemas could not be read'));
      }
      return known;
    },
  };
  return {
    get: (portalId) => accounts.get(portalId),
    list: () => [...accounts.values()],
    reader,
    types,
    close: () => {
      for (const a of accounts.values()) a.budget.close();
    },
  };
}

function createAccount(baseUrl: string, timeoutMs: number, config: HubSpotAccountConfig, deps: AccountsDeps): HubSpotAccount {
  const tier = TIERS[config.tier];
  const log = deps.log.child({ module: 'hubspot', portalId: config.portalId });
  const budget = new AccountBudget({
    portalId: config.portalId,
    windowLimit: config.windowLimit ?? tier.windowLimit,
    windowMs: config.windowMs,
    dailyLimit: config.dailyLimit ?? tier.dailyLimit,
    searchPerSecond: config.searchPerSecond,
    budgetShare: config.budgetShare,
    timeZone: config.timeZone,
    timeScale: deps.timeScale ?? 1,
    log,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.onPause ? { onPause: (pause: Pause) => deps.onPause?.(config.portalId, pause) } : {}),
  });
  const basePath = baseUrl.replace(/\/$/, '');
  const client = new Client({ accessToken: config.accessToken, basePath, numberOfApiCallRetries: 0, httpAgent: silenceLimitedAgent(basePath, timeoutMs) });
  // The client's decorators are a process-wide singleton applied when an API object is built: build
  // ours now, while they are the empty set this constructor just installed.
  const objects = client.crm.objects;
  const properties = client.crm.properties.coreApi;
  const schemas = client.crm.schemas.coreApi;
  const associations = client.crm.associations.v4.batchApi;

  const propertyNames = (objectType: string, opts: CallOptions = {}) =>
    budget.run('api', 'backfill', () => attempt(async () => {
      const r = await properties.getAllWithHttpInfo(objectType);
      return { value: r.data.results.map((p) => p.name), headers: r.headers };
    }), opts);
  const catalog = createPropertyCatalog({
    load: (objectType, signal) => propertyNames(objectType, signal ? { signal } : {}),
    ttlMs: PROPERTY_LIST_TTL_MS * (deps.timeScale ?? 1),
    minRefreshMs: PROPERTY_LIST_MIN_REFRESH_MS * (deps.timeScale ?? 1),
    now: Date.now,
    onStale: (objectType, message) => log.warn({ objectType, error: message }, 'property list could not be re-read: using the one read before'),
  });
  /** A property list to read: `all` through the catalog (HubSpot's defaults when the API lists none). */
  const resolve = async (objectType: string, props: readonly string[] | 'all', signal: AbortSignal | undefined): Promise<CallResult<readonly string[]>> => {
    if (props !== 'all') return { ok: true, value: props };
    const names = await catalog.names(objectType, signal);
    if (!names.ok) return names;
    if (names.value === undefined) log.warn({ objectType }, 'the properties API lists nothing for this type: reading its default properties only');
    return { ok: true, value: names.value ?? [] };
  };
  const batchRead = (objectType: string, ids: readonly string[], props: readonly string[], priority: Priority, opts: BatchReadOptions) =>
    budget.run('api', priority, () => attempt(async () => {
      const body = { inputs: ids.map((id) => ({ id })), properties: [...props], propertiesWithHistory: [] };
      const r = await objects.batchApi.readWithHttpInfo(objectType, body, opts.archived ? true : undefined);
      const errors = ('errors' in r.data ? r.data.errors : undefined) ?? [];
      // Only ids HubSpot says it does not have: an id failing for another reason is neither read nor missing.
      const missing = errors.filter((e) => e.category === undefined || e.category === 'OBJECT_NOT_FOUND').flatMap((e) => Object.values(e.context ?? {}).flat().map(String));
      return { value: { results: r.data.results as HubSpotObject[], missing }, headers: r.headers };
    }), opts);
  const getPage = (objectType: string, page: { limit: number; after?: string; properties?: readonly string[] | undefined; archived?: boolean }, priority: Priority, opts: CallOptions) =>
    budget.run('api', priority, () => attempt(async () => {
      const r = await objects.basicApi.getPageWithHttpInfo(objectType, page.limit, page.after, page.properties ? [...page.properties] : undefined, undefined, undefined, page.archived ?? false);
      return { value: { results: r.data.results as HubSpotObject[], after: r.data.paging?.next?.after } as Page, headers: r.headers };
    }), opts);

  return {
    portalId: config.portalId,
    budget,
    properties: catalog,
    search: (objectType, request, priority, opts = {}) =>
      budget.run('search', priority, () => attempt(async () => {
        const r = await objects.searchApi.doSearchWithHttpInfo(objectType, {
          filterGroups: request.filterGroups.map((g) => ({ filters: g.filters.map((f) => ({ ...f })) })) as never,
          // The model types sorts as strings; the serializer passes objects through, and HubSpot takes both.
          sorts: request.sorts.map((s) => ({ ...s })) as never,
          properties: [...(request.properties ?? [])],
          limit: request.limit,
          ...(request.after !== undefined ? { after: request.after } : {}),
        });
        return { value: { results: r.data.results as HubSpotObject[], total: r.data.total, after: r.data.paging?.next?.after }, headers: r.headers };
      }), opts),
    async listPage(objectType, page, priority, opts = {}) {
      if (!page.properties || listUrlLength(basePath, objectType, page) <= MAX_LIST_URL_LENGTH) return getPage(objectType, page, priority, opts);
      // Too many names for a query string: list the page's ids, then read them with the names in a POST body.
      const listed = await getPage(objectType, { ...page, properties: undefined }, priority, opts);
      if (!listed.ok || listed.value.results.length === 0) return listed;
      // An archived page's records read as archived (a live batch read reports them missing).
      const read = await batchRead(objectType, listed.value.results.map((o) => o.id), page.properties, priority, { ...opts, archived: page.archived ?? false });
      // A record deleted between the two calls is simply absent: sweeps and webhooks record its deletion.
      return read.ok ? { ok: true, value: { results: read.value.results, after: listed.value.after } } : read;
    },
    async batchRead(objectType, ids, props, priority, opts = {}) {
      const names = await resolve(objectType, props, opts.signal);
      return names.ok ? batchRead(objectType, ids, names.value, priority, opts) : names;
    },
    associationPage: (fromType, toType, inputs, priority, opts = {}) =>
      budget.run('api', priority, () => attempt(async () => {
        const r = await associations.getPageWithHttpInfo(fromType, toType, { inputs: inputs.map((i) => (i.after ? { id: i.id, after: i.after } : { id: i.id })) });
        return { value: toAssociationPage(r.data), headers: r.headers };
      }), opts),
    customSchemas: (opts = {}) =>
      budget.run('api', 'incremental', () => attempt(async () => {
        const r = await schemas.getAllWithHttpInfo();
        const value = r.data.results.map((s): CustomObjectSchema => ({
          objectTypeId: s.objectTypeId ?? '', name: s.name, fullyQualifiedName: s.fullyQualifiedName ?? '',
          singular: s.labels.singular ?? '', plural: s.labels.plural ?? '',
        }));
        return { value, headers: r.headers };
      }), opts),
    propertyNames,
  };
}

/**
 * The client's connections (keep-alive, as its own fetch keeps them): a socket that carries nothing
 * either way for `timeoutMs` while a call waits on it is destroyed, so the call fails as a network
 * error and the budget retries it, instead of waiting out a connection the network black-holed
 * (Node's own fetch gives up after 300 s without headers). A slow answer that keeps arriving is not
 * cut. Idle pooled sockets are closed after the same time.
 */
function silenceLimitedAgent(basePath: string, timeoutMs: number): http.Agent {
  const Agent = basePath.startsWith('https:') ? https.Agent : http.Agent;
  class SilenceLimitedAgent extends Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
      const socket = super.createConnection(options, callback);
      socket?.once('timeout', () => socket.destroy(new Error(`HubSpot sent nothing for ${timeoutMs} ms: connection closed (hubspot.requestTimeoutMs)`)));
      return socket;
    }
  }
  // `timeout` sets each socket's inactivity timeout, again each time the pool takes it back.
  return new SilenceLimitedAgent({ keepAlive: true, timeout: timeoutMs });
}

/** Runs one HTTP attempt and classifies what came back. */
async function attempt<T>(call: () => Promise<{ value: T; headers: Record<string, string> }>): Promise<CallOutcome<T>> {
  try {
    const { value, headers } = await call();
    return { ok: true, value, headers: { ...headers } };
  } catch (err) {
    const e = err as { code?: unknown; body?: unknown; headers?: unknown; message?: unknown };
    if (typeof e?.code !== 'number' || e.code < 100) {
      return { ok: false, failure: 'network', message: err instanceof Error ? err.message : String(err) };
    }
    const status = e.code;
    const headers = (e.headers && typeof e.headers === 'object' ? e.headers : {}) as Record<string, string>;
    const body = parseBody(e.body);
    const message = typeof (body as { message?: unknown })?.message === 'string' ? (body as { message: string }).message : `HTTP ${status}`;
    if (status === 429) {
      return { ok: false, failure: 'rate_limited', status: 429, policy: policyOf(body), retryAfterMs: retryAfterMs(headers['retry-after'], Date.now()), headers, message };
    }
    if (status >= 500) return { ok: false, failure: 'server', status, headers, message };
    return { ok: false, failure: 'client', status, headers, message, body };
  }
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
