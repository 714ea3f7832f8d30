/**
 * The Webhooks Journal stand-in: per app, the events its subscriptions match, written into
 * entries (one file each) on a global journal (every installed portal) and a local journal per
 * portal, kept for a (time-scaled) three days, read by offset, each entry's file behind a
 * pre-signed URL that expires. Fed by the same change stream as the webhooks and the CRM API.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { ChangeEvent } from '../changes.ts';
import type { Clock } from '../clock.ts';
import { createRng, type Rng } from '../random.ts';
import { appLifecycleEvent, DEFAULT_VARIANTS, journalEventsFor, type JournalEvent, type JournalVariants } from './events.ts';
import { APP_EVENT_TYPE_IDS, upsertKey, type JournalSubscription, type UpsertInput } from './subscriptions.ts';

export interface JournalAppOptions {
  appId: number;
  clientId: string;
  clientSecret: string;
  /** Scopes the app may request; default every journal scope and the CRM object read scopes. */
  scopes?: string[];
  /** Portals that installed the app; default every portal with an account. */
  portalIds?: number[];
}

export interface JournalFaults {
  /** Probability a URL is handed out already expired. */
  expiredUrlRate: number;
  /** Probability a file download is held back for `slowFileMs` (HubSpot ms, scaled). */
  slowFileRate: number;
  slowFileMs: number;
  /** Probability an event is written again into the next entry. */
  duplicateRate: number;
}

export const NO_JOURNAL_FAULTS: JournalFaults = { expiredUrlRate: 0, slowFileRate: 0, slowFileMs: 0, duplicateRate: 0 };

export interface JournalOptions {
  apps?: JournalAppOptions[];
  /** How long entries stay readable, HubSpot ms (scaled); default three days. */
  retentionMs?: number;
  /** How long a file URL works, HubSpot ms (scaled); default 15 minutes. */
  urlTtlMs?: number;
  /** Token lifetime, HubSpot seconds (scaled); default 1800. */
  tokenTtlSeconds?: number;
  /** Events per entry at most; default 1000. */
  maxEventsPerEntry?: number;
  /** Requests per second (scaled) per app: journal reads and subscription calls. */
  limits?: { journalPerSecond?: number; subscriptionsPerSecond?: number };
  variants?: Partial<JournalVariants>;
  faults?: Partial<JournalFaults>;
  seed?: number;
}

export const JOURNAL_SCOPES = [
  'developer.webhooks_journal.read',
  'developer.webhooks_journal.subscriptions.read',
  'developer.webhooks_journal.subscriptions.write',
  'developer.webhooks_journal.snapshots.read',
  'developer.webhooks_journal.snapshots.write',
];

const OBJECT_SCOPES = ['crm.objects.contacts.read', 'crm.objects.companies.read', 'crm.objects.deals.read', 'tickets', 'crm.objects.custom.read'];

export interface Entry {
  offset: string;
  publishedAt: number;
  events: JournalEvent[];
}

/** One journal: entries in order, the oldest pruned at the retention. */
class Stream {
  entries: Entry[] = [];
  /** Absolute position of entries[0]. */
  base = 0;
  readonly positions = new Map<string, number>();

  append(entry: Entry): void {
    this.positions.set(entry.offset, this.base + this.entries.length);
    this.entries.push(entry);
  }

  prune(before: number): void {
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop]!.publishedAt < before) this.positions.delete(this.entries[drop++]!.offset);
    if (drop === 0) return;
    this.entries.splice(0, drop);
    this.base += drop;
  }

  /** The index in `entries` of an offset still kept, or undefined (expired or never issued). */
  indexOf(offset: string): number | undefined {
    const position = this.positions.get(offset);
    return position === undefined ? undefined : position - this.base;
  }
}

interface App extends Required<Omit<JournalAppOptions, 'portalIds'>> {
  portalIds: number[] | undefined;
  subscriptions: Map<number, JournalSubscription>;
  pending: JournalEvent[];
  flushScheduled: boolean;
  global: Stream;
  local: Map<number, Stream>;
}

export interface IssuedToken {
  appId: number;
  scopes: string[];
  expiresAt: number;
}

/** What the stand-in hands out for an entry: `JournalFetchResponse`. */
export interface FetchResponse {
  currentOffset: string;
  expiresAt: string;
  url: string;
}

let nextSubscriptionId = 7_000_001;
let nextFilterId = 9_000_001;

export class WebhooksJournal {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #apps = new Map<number, App>();
  readonly #tokens = new Map<string, IssuedToken>();
  readonly #signingKey = randomBytes(32);
  readonly #allPortals: () => number[];
  /** Recent call times per app and kind, for the per-second limits. */
  readonly #calls = new Map<string, number[]>();
  #failures: { status: number; count: number }[] = [];
  readonly retentionMs: number;
  readonly urlTtlMs: number;
  readonly tokenTtlSeconds: number;
  readonly maxEventsPerEntry: number;
  readonly limits: { journalPerSecond: number; subscriptionsPerSecond: number };
  variants: JournalVariants;
  faults: JournalFaults;
  /** Calls answered, by kind (for tests and the benchmark). */
  readonly counts = { token: 0, journal: 0, subscriptions: 0, files: 0, rateLimited: 0 };

  constructor(options: JournalOptions, clock: Clock, allPortals: () => number[]) {
    this.#clock = clock;
    this.#rng = createRng(options.seed ?? 1);
    this.#allPortals = allPortals;
    this.retentionMs = options.retentionMs ?? 3 * 86_400_000;
    this.urlTtlMs = options.urlTtlMs ?? 15 * 60_000;
    this.tokenTtlSeconds = options.tokenTtlSeconds ?? 1800;
    this.maxEventsPerEntry = options.maxEventsPerEntry ?? 1000;
    this.limits = { journalPerSecond: options.limits?.journalPerSecond ?? 100, subscriptionsPerSecond: options.limits?.subscriptionsPerSecond ?? 50 };
    this.variants = { ...DEFAULT_VARIANTS, ...options.variants };
    this.faults = { ...NO_JOURNAL_FAULTS, ...options.faults };
    for (const app of options.apps ?? []) this.addApp(app);
  }

  addApp(o: JournalAppOptions): void {
    this.#apps.set(o.appId, {
      appId: o.appId, clientId: o.clientId, clientSecret: o.clientSecret, scopes: o.scopes ?? [...JOURNAL_SCOPES, ...OBJECT_SCOPES],
      portalIds: o.portalIds, subscriptions: new Map(), pending: [], flushScheduled: false, global: new Stream(), local: new Map(),
    });
  }

  apps(): JournalAppOptions[] {
    return [...this.#apps.values()].map((a) => ({ appId: a.appId, clientId: a.clientId, clientSecret: a.clientSecret, scopes: a.scopes, ...(a.portalIds ? { portalIds: a.portalIds } : {}) }));
  }

  setVariants(v: Partial<JournalVariants>): JournalVariants {
    return (this.variants = { ...this.variants, ...v });
  }

  setFaults(f: Partial<JournalFaults>): JournalFaults {
    return (this.faults = { ...this.faults, ...f });
  }

  // --- limits and injected failures ---

  /** Counts one call against the app's per-second limit for `kind`; a refusal says how long to wait. */
  admit(appId: number, kind: 'journal' | 'subscriptions'): { ok: true } | { ok: false; retryAfterMs: number } {
    const now = this.#clock.now();
    const windowMs = this.#clock.scale(1000);
    const key = `${appId}:${kind}`;
    const calls = (this.#calls.get(key) ?? []).filter((t) => t > now - windowMs);
    this.#calls.set(key, calls);
    const limit = kind === 'journal' ? this.limits.journalPerSecond : this.limits.subscriptionsPerSecond;
    if (calls.length >= limit) {
      this.counts.rateLimited++;
      return { ok: false, retryAfterMs: calls[0]! + windowMs - now };
    }
    calls.push(now);
    this.counts[kind]++;
    return { ok: true };
  }

  /** The next `count` journal or subscription calls answer `status`. */
  failNext(status: number, count: number): void {
    if (count > 0) this.#failures.push({ status, count });
  }

  /** Consumes one injected failure, if any. */
  takeFailure(): number | undefined {
    const f = this.#failures[0];
    if (!f) return undefined;
    if (--f.count <= 0) this.#failures.shift();
    return f.status;
  }

  // --- OAuth (client credentials) ---

  /** Issues a token for the app's client id and secret, or says why not (HubSpot's `status` codes). */
  issueToken(clientId: string, clientSecret: string, scope: string): { token: string; issued: IssuedToken; expiresIn: number } | { status: string; message: string } {
    const app = [...this.#apps.values()].find((a) => a.clientId === clientId);
    if (!app) return { status: 'BAD_CLIENT_ID', message: 'missing or unknown client id' };
    if (app.clientSecret !== clientSecret) return { status: 'BAD_CLIENT_SECRET', message: 'missing or invalid client secret' };
    const scopes = scope.split(/\s+/).filter(Boolean);
    const unknown = scopes.filter((s) => !app.scopes.includes(s));
    if (unknown.length > 0) return { status: 'BAD_SCOPES', message: `the app may not request ${unknown.join(', ')}` };
    const expiresIn = Math.max(1, Math.round(this.tokenTtlSeconds * this.#clock.timeScale));
    const issued: IssuedToken = { appId: app.appId, scopes, expiresAt: this.#clock.now() + expiresIn * 1000 };
    const token = `CJ${randomBytes(24).toString('base64url')}`;
    this.#tokens.set(token, issued);
    this.counts.token++;
    return { token, issued, expiresIn };
  }

  /** The token's grant, while it lasts. */
  tokenInfo(token: string): IssuedToken | undefined {
    const t = this.#tokens.get(token);
    if (t && t.expiresAt <= this.#clock.now()) this.#tokens.delete(token);
    return t && t.expiresAt > this.#clock.now() ? t : undefined;
  }

  /** Every issued token stops working (a 401 on next use). */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  // --- install state, subscriptions ---

  installed(appId: number, portalId: number): boolean {
    const app = this.#app(appId);
    return (app.portalIds ?? this.#allPortals()).includes(portalId);
  }

  /** Installs or uninstalls the app in a portal, writing the app lifecycle event. */
  setInstalled(appId: number, portalId: number, installed: boolean): void {
    const app = this.#app(appId);
    const current = app.portalIds ?? this.#allPortals();
    app.portalIds = installed ? [...new Set([...current, portalId])] : current.filter((p) => p !== portalId);
    const action = installed ? 'APP_INSTALL' : 'APP_UNINSTALL';
    const eventTypeId = APP_EVENT_TYPE_IDS[action];
    if ([...app.subscriptions.values()].some((s) => s.subscriptionType === 'APP_LIFECYCLE_EVENT' && s.objectTypeId === eventTypeId)) {
      this.#write(app, [appLifecycleEvent(portalId, action, eventTypeId, appId, this.#clock.now(), this.variants)]);
    }
    if (!installed) for (const s of app.subscriptions.values()) if (s.portalId === portalId) app.subscriptions.delete(s.id);
  }

  subscriptions(appId: number): JournalSubscription[] {
    return [...this.#app(appId).subscriptions.values()].sort((a, b) => a.id - b.id);
  }

  upsert(appId: number, input: UpsertInput): JournalSubscription {
    const app = this.#app(appId);
    const now = this.#clock.now();
    const existing = [...app.subscriptions.values()].find((s) => upsertKey(s) === upsertKey(input));
    const s: JournalSubscription = existing
      ? { ...existing, ...input, updatedAt: now }
      : { ...input, id: nextSubscriptionId++, appId, filters: [], createdAt: now, updatedAt: now };
    app.subscriptions.set(s.id, s);
    return s;
  }

  deleteSubscription(appId: number, id: number): boolean {
    return this.#app(appId).subscriptions.delete(id);
  }

  deletePortalSubscriptions(appId: number, portalId: number): number {
    const app = this.#app(appId);
    const ids = [...app.subscriptions.values()].filter((s) => s.portalId === portalId).map((s) => s.id);
    for (const id of ids) app.subscriptions.delete(id);
    return ids.length;
  }

  addFilter(appId: number, subscriptionId: number, conditions: JournalSubscription['filters'][number]['conditions']): number | undefined {
    const s = this.#app(appId).subscriptions.get(subscriptionId);
    if (!s) return undefined;
    const id = nextFilterId++;
    s.filters.push({ id, createdAt: this.#clock.now(), conditions });
    return id;
  }

  findFilter(appId: number, filterId: number): { subscription: JournalSubscription; index: number } | undefined {
    for (const s of this.#app(appId).subscriptions.values()) {
      const index = s.filters.findIndex((f) => f.id === filterId);
      if (index >= 0) return { subscription: s, index };
    }
    return undefined;
  }

  // --- writing ---

  /** A CRM change: every app's matching events go into its next entry. */
  handle(change: ChangeEvent): void {
    for (const app of this.#apps.values()) {
      if (!(app.portalIds ?? this.#allPortals()).includes(change.portalId)) continue;
      const events = journalEventsFor([...app.subscriptions.values()], change, this.variants);
      if (events.length > 0) this.#write(app, events);
    }
  }

  #write(app: App, events: JournalEvent[]): void {
    app.pending.push(...events);
    if (app.flushScheduled) return;
    app.flushScheduled = true;
    // One entry per tick: a burst of changes lands in one file.
    setImmediate(() => this.#flush(app));
  }

  #flush(app: App): void {
    app.flushScheduled = false;
    const events = app.pending.splice(0);
    const carried: JournalEvent[] = [];
    for (let i = 0; i < events.length; i += this.maxEventsPerEntry) {
      const chunk = events.slice(i, i + this.maxEventsPerEntry);
      this.#publish(app, chunk);
      for (const e of chunk) if (this.#rng.chance(this.faults.duplicateRate)) carried.push(e);
    }
    // An at-least-once journal: a copy of some events in the next file.
    if (carried.length > 0) this.#write(app, carried);
  }

  #publish(app: App, events: JournalEvent[]): void {
    const publishedAt = this.#clock.now();
    app.global.append({ offset: randomUUID(), publishedAt, events });
    for (const portalId of new Set(events.map((e) => e.portalId))) {
      let stream = app.local.get(portalId);
      if (!stream) app.local.set(portalId, (stream = new Stream()));
      stream.append({ offset: randomUUID(), publishedAt, events: events.filter((e) => e.portalId === portalId) });
    }
  }

  /** Resolves once no events wait to be written. */
  async idle(): Promise<void> {
    while ([...this.#apps.values()].some((a) => a.flushScheduled)) await new Promise((r) => setImmediate(r));
  }

  // --- reading ---

  /** The journal an app reads: global, or a portal's local one; entries past the retention are gone. */
  stream(appId: number, portalId: number | undefined): Stream {
    const app = this.#app(appId);
    const stream = portalId === undefined ? app.global : (app.local.get(portalId) ?? app.local.set(portalId, new Stream()).get(portalId)!);
    stream.prune(this.#clock.now() - this.#clock.scale(this.retentionMs));
    return stream;
  }

  /** Drops every entry published before now (an outage past the retention, at once). */
  expireAll(): void {
    const now = this.#clock.now() + 1;
    for (const app of this.#apps.values()) {
      app.global.prune(now);
      for (const stream of app.local.values()) stream.prune(now);
    }
  }

  /** `JournalFetchResponse` for an entry: a fresh pre-signed URL under `fileBase`. */
  fetchResponse(entry: Entry, fileBase: string): FetchResponse {
    const expired = this.#rng.chance(this.faults.expiredUrlRate);
    const expiresAt = expired ? this.#clock.now() - 1 : this.#clock.now() + this.#clock.scale(this.urlTtlMs);
    const signature = this.#sign(entry.offset, expiresAt);
    const url = `${fileBase}/__journal-files/${entry.offset}.json?X-Amz-Expires=${expiresAt}&X-Amz-Signature=${signature}`;
    return { currentOffset: entry.offset, expiresAt: new Date(expiresAt).toISOString(), url };
  }

  /** The file behind a pre-signed URL: its JSON, or why S3 refuses it. */
  file(offset: string, expiresAt: number, signature: string): { ok: true; body: string; delayMs: number } | { ok: false; status: 403 | 404; code: string; message: string } {
    if (signature !== this.#sign(offset, expiresAt)) return { ok: false, status: 403, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided.' };
    if (expiresAt <= this.#clock.now()) return { ok: false, status: 403, code: 'AccessDenied', message: 'Request has expired' };
    const entry = this.#findEntry(offset);
    if (!entry) return { ok: false, status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.' };
    this.counts.files++;
    const body = JSON.stringify({ offset: entry.offset, journalEvents: entry.events, publishedAt: new Date(entry.publishedAt).toISOString() });
    const delayMs = this.#rng.chance(this.faults.slowFileRate) ? this.#clock.scale(this.faults.slowFileMs) : 0;
    return { ok: true, body, delayMs };
  }

  /** Every event written so far to an app's global journal and still kept (tests). */
  entries(appId: number, portalId?: number): readonly Entry[] {
    return this.stream(appId, portalId).entries;
  }

  #findEntry(offset: string): Entry | undefined {
    for (const app of this.#apps.values()) {
      for (const stream of [app.global, ...app.local.values()]) {
        const i = stream.indexOf(offset);
        if (i !== undefined) return stream.entries[i];
      }
    }
    return undefined;
  }

  #sign(offset: string, expiresAt: number): string {
    return createHmac('sha256', this.#signingKey).update(`${offset}:${expiresAt}`).digest('hex');
  }

  #app(appId: number): App {
    const app = this.#apps.get(appId);
    if (!app) throw new Error(`no journal app ${appId}`);
    return app;
  }
}
