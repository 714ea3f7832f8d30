import type { ChangeEvent } from './changes.ts';
import type { Clock } from './clock.ts';
import { shuffle, type Rng } from './random.ts';
import { Sender, type AttemptResult } from './sender.ts';
import { signatureHeaders } from './signatures.ts';
import { eventsForChange, type Subscription, type SubscriptionOptions, type WebhookEvent } from './webhook-events.ts';

export interface AppOptions {
  appId: number;
  clientSecret: string;
  targetUrl: string;
  subscriptions: SubscriptionOptions[];
  /** Requests in flight at once (HubSpot default 10). */
  maxConcurrentRequests?: number;
  /** Portals that installed the app; default every portal. */
  portalIds?: number[];
}

export interface WebhookFaults {
  /** Probability an event is never delivered. */
  dropRate: number;
  /** Probability an event is delivered twice (a second copy in a later batch). */
  duplicateRate: number;
  /** Shuffle events before batching. */
  reorder: boolean;
  /** Probability an event is held back before batching, for up to `delayMs` (HubSpot ms, scaled). */
  delayRate: number;
  delayMs: number;
  /** Probability an event gets an eventId already used by a different event. */
  eventIdReuseRate: number;
}

export const NO_FAULTS: WebhookFaults = { dropRate: 0, duplicateRate: 0, reorder: false, delayRate: 0, delayMs: 0, eventIdReuseRate: 0 };

export interface DeliveryAttempt extends AttemptResult {
  /** 0 for the original, 1 for an injected duplicate. */
  copy: number;
}

/** Per event: what was sent, every attempt, and whether any was answered 2xx. */
export interface DeliveryRecord {
  seq: number;
  appId: number;
  event: WebhookEvent;
  dropped: boolean;
  duplicated: boolean;
  delayedMs: number;
  attempts: DeliveryAttempt[];
  delivered: boolean;
  /** Every retry failed. */
  gaveUp: boolean;
}

interface App extends AppOptions {
  subs: Subscription[];
  sender: Sender;
  pending: { record: DeliveryRecord; copy: number }[];
  flushScheduled: boolean;
}

export interface WebhookDeliveryOptions {
  clock: Clock;
  rng: Rng;
  apps: readonly AppOptions[];
  faults?: Partial<WebhookFaults>;
  /** HubSpot ms, scaled. */
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
}

const BATCH_MAX = 100;

/** Webhooks-API delivery: events from every change, batched ≤100 per POST, signed v1 + v3, retried, with faults. */
export class WebhookDelivery {
  readonly #o: WebhookDeliveryOptions;
  readonly #apps: App[] = [];
  readonly #records: DeliveryRecord[] = [];
  readonly #usedEventIds: number[] = [];
  #nextEventId = 1;
  faults: WebhookFaults;

  constructor(options: WebhookDeliveryOptions) {
    this.#o = options;
    this.faults = { ...NO_FAULTS, ...options.faults };
    for (const app of options.apps) this.addApp(app);
  }

  addApp(options: AppOptions): void {
    const subs = options.subscriptions.map((s, i) => ({ ...s, subscriptionId: s.subscriptionId ?? options.appId * 1000 + i + 1 }));
    const sender = new Sender({
      clock: this.#o.clock, rng: this.#o.rng, concurrency: options.maxConcurrentRequests ?? 10,
      timeoutMs: this.#o.timeoutMs ?? 5_000, maxRetries: this.#o.maxRetries ?? 10, retryBaseMs: this.#o.retryBaseMs ?? 60_000,
    });
    this.#apps.push({ ...options, subs, sender, pending: [], flushScheduled: false });
  }

  apps(): AppOptions[] {
    return this.#apps.map(({ appId, clientSecret, targetUrl, subscriptions, maxConcurrentRequests, portalIds }) =>
      ({ appId, clientSecret, targetUrl, subscriptions, ...(maxConcurrentRequests ? { maxConcurrentRequests } : {}), ...(portalIds ? { portalIds } : {}) }));
  }

  setFaults(faults: Partial<WebhookFaults>): WebhookFaults {
    this.faults = { ...this.faults, ...faults };
    return this.faults;
  }

  records(): readonly DeliveryRecord[] {
    return this.#records;
  }

  handle(change: ChangeEvent): void {
    const rng = this.#o.rng;
    const f = this.faults;
    for (const app of this.#apps) {
      if (app.portalIds && !app.portalIds.includes(change.portalId)) continue;
      for (const e of eventsForChange(app.appId, app.subs, change)) {
        const reuse = this.#usedEventIds.length > 0 && rng.chance(f.eventIdReuseRate);
        const eventId = reuse ? rng.pick(this.#usedEventIds) : this.#nextEventId++;
        if (!reuse) this.#usedEventIds.push(eventId);
        const record: DeliveryRecord = {
          seq: this.#records.length + 1, appId: app.appId, event: { eventId, ...e }, dropped: false,
          duplicated: false, delayedMs: 0, attempts: [], delivered: false, gaveUp: false,
        };
        this.#records.push(record);
        if (rng.chance(f.dropRate)) {
          record.dropped = true;
          continue;
        }
        record.duplicated = rng.chance(f.duplicateRate);
        record.delayedMs = rng.chance(f.delayRate) ? this.#o.clock.scale(f.delayMs * rng.next()) : 0;
        this.#later(app, { record, copy: 0 }, record.delayedMs);
        if (record.duplicated) this.#later(app, { record, copy: 1 }, record.delayedMs + this.#o.clock.scale(1_000 * (0.2 + rng.next())));
      }
    }
  }

  /** Resolves once nothing is waiting, in flight, or scheduled for retry. */
  async idle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await Promise.all(this.#apps.map((a) => a.sender.idle()));
      if (this.#apps.every((a) => a.pending.length === 0 && !a.flushScheduled)) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#apps.map((a) => a.sender.stop()));
  }

  #later(app: App, item: App['pending'][number], delayMs: number): void {
    if (delayMs <= 0) return this.#push(app, item);
    const release = app.sender.hold();
    setTimeout(() => {
      this.#push(app, item);
      release();
    }, delayMs);
  }

  #push(app: App, item: App['pending'][number]): void {
    app.pending.push(item);
    if (app.flushScheduled) return;
    app.flushScheduled = true;
    // One flush per tick: a burst of changes leaves in full batches.
    setImmediate(() => this.#flush(app));
  }

  #flush(app: App): void {
    app.flushScheduled = false;
    const items = app.pending.splice(0);
    if (this.faults.reorder) shuffle(items, this.#o.rng);
    for (let i = 0; i < items.length; i += BATCH_MAX) {
      const batch = items.slice(i, i + BATCH_MAX);
      app.sender.submit({
        url: app.targetUrl,
        build: (attemptNumber) => {
          const body = JSON.stringify(batch.map((b) => ({ ...b.record.event, attemptNumber })));
          return { body, headers: signatureHeaders('v1', app.clientSecret, app.targetUrl, body, Date.now()) };
        },
        onAttempt: (result) => {
          for (const b of batch) {
            b.record.attempts.push({ ...result, copy: b.copy });
            if (result.ok) b.record.delivered = true;
            else if (result.final && !b.record.delivered) b.record.gaveUp = true;
          }
        },
      });
    }
  }
}
