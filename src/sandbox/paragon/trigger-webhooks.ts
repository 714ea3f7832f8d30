import { createHmac, randomUUID } from 'node:crypto';
import type { ChangeEvent } from '../hubspot/changes.ts';
import type { Clock } from '../hubspot/clock.ts';
import type { Rng } from '../hubspot/random.ts';
import { Sender, type AttemptResult } from '../hubspot/sender.ts';
import { findTrigger, recordObjectType, type Subscription, type SubscriptionStore } from './subscriptions.ts';

export interface TriggerWebhookOptions {
  /** Sandbox ms each delivery may take (scaled). */
  timeoutMs?: number;
  /** Retries after the first attempt. */
  maxRetries?: number;
  /** Sandbox ms before the first retry; later ones grow exponentially with jitter. */
  retryBaseMs?: number;
  concurrency?: number;
  /** Events in a row whose every retry failed, after which the subscription turns ERRORED. */
  erroredAfter?: number;
  /** Faults: events never sent, and events sent twice (same eventId). */
  dropProbability?: number;
  duplicateProbability?: number;
}

export interface TriggerDelivery {
  eventId: string;
  subscriptionId: string;
  userId: string;
  triggerType: string;
  objectId: string;
  url: string;
  body: string;
  attempts: AttemptResult[];
  delivered: boolean;
  dropped: boolean;
  duplicated: boolean;
}

const TIMESTAMPS = new Set(['createdate', 'hs_createdate', 'lastmodifieddate', 'hs_lastmodifieddate']);

/**
 * A record as Paragon's documented trigger payloads carry it: flat, `id` first, and no last-modified
 * field (docs.useparagon.com, "Get Example Payload": `[{"id": "…", "name": "Sample Opportunity", …}]`).
 */
export function flatRecord(id: string, properties: Readonly<Record<string, string>>): Record<string, string> {
  return { id, ...Object.fromEntries(Object.entries(properties).filter(([name]) => !TIMESTAMPS.has(name) && name !== 'id')) };
}

/** `x-paragon-signature: v1=<hex HMAC-SHA256 of the body keyed by the project's signing secret>`. */
export function paragonSignature(secret: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Which connected HubSpot portal a user's subscriptions watch. */
export type PortalOf = (userId: string) => number | undefined;

export interface TriggerWebhookDeps {
  clock: Clock;
  rng: Rng;
  store: SubscriptionStore;
  projectId: string;
  /** The project's signing secret for `x-paragon-signature`. */
  secret: string;
  portalOf: PortalOf;
}

/**
 * Sends trigger webhooks: every HubSpot change that an ACTIVE subscription matches (its user's
 * portal, record type and trigger type) becomes one signed POST to the subscription's
 * `webhookOverride.url`, retried with backoff. A subscription whose deliveries keep failing
 * turns ERRORED, as Paragon's do.
 */
export class TriggerWebhooks {
  readonly deliveries: TriggerDelivery[] = [];
  readonly #sender: Sender;
  readonly #o: Required<TriggerWebhookOptions>;
  readonly #deps: TriggerWebhookDeps;

  constructor(
    deps: TriggerWebhookDeps,
    options: TriggerWebhookOptions = {},
  ) {
    this.#deps = deps;
    this.#o = {
      timeoutMs: 10_000, maxRetries: 5, retryBaseMs: 1_000, concurrency: 8, erroredAfter: 3, dropProbability: 0, duplicateProbability: 0,
      ...options,
    };
    this.#sender = new Sender({ clock: deps.clock, rng: deps.rng, concurrency: this.#o.concurrency, timeoutMs: this.#o.timeoutMs, maxRetries: this.#o.maxRetries, retryBaseMs: this.#o.retryBaseMs });
  }

  setFaults(faults: Pick<TriggerWebhookOptions, 'dropProbability' | 'duplicateProbability'>): void {
    Object.assign(this.#o, faults);
  }

  handle(change: ChangeEvent): void {
    for (const s of this.#deps.store.all()) {
      if (s.status !== 'ACTIVE' || s.integration !== 'hubspot' || !s.webhookOverride) continue;
      if (findTrigger(s.integration, s.type)?.fires !== change.kind) continue;
      if (recordObjectType(s.parameters) !== change.objectType || this.#deps.portalOf(s.userId) !== change.portalId) continue;
      this.#send(s, change);
    }
  }

  idle(): Promise<void> {
    return this.#sender.idle();
  }

  stop(): Promise<void> {
    return this.#sender.stop();
  }

  #send(s: Subscription, change: ChangeEvent): void {
    const { rng, clock, projectId, secret } = this.#deps;
    const body = JSON.stringify({
      eventId: randomUUID(),
      userId: s.userId,
      integration: s.integration,
      triggerType: s.type,
      triggerSubscriptionId: s.id,
      credentialId: s.credentialId,
      projectId,
      dateReceived: new Date(clock.now()).toISOString(),
      payload: [flatRecord(change.objectId, change.properties)],
      triggerSubscriptionMetadata: s.webhookOverride?.metadata ?? {},
    });
    const record: TriggerDelivery = {
      eventId: (JSON.parse(body) as { eventId: string }).eventId,
      subscriptionId: s.id, userId: s.userId, triggerType: s.type, objectId: change.objectId,
      url: s.webhookOverride!.url, body, attempts: [], delivered: false, dropped: false, duplicated: false,
    };
    this.deliveries.push(record);
    if (rng.chance(this.#o.dropProbability)) {
      record.dropped = true;
      return;
    }
    const headers = { ...s.webhookOverride?.headers, 'x-paragon-signature': paragonSignature(secret, body) };
    const job = {
      url: record.url,
      build: () => ({ body, headers }),
      onAttempt: (result: AttemptResult) => {
        record.attempts.push(result);
        if (result.ok) {
          record.delivered = true;
          s.consecutiveFailures = 0;
          s.dateLastReceivedEvent = new Date(clock.now()).toISOString();
        } else if (result.final && !record.delivered) {
          s.consecutiveFailures++;
          if (s.consecutiveFailures >= this.#o.erroredAfter && s.status === 'ACTIVE') {
            this.#deps.store.setStatus(s, 'ERRORED', `Webhook delivery failed for ${s.consecutiveFailures} events in a row (last: ${result.status ?? result.error})`);
          }
        }
      },
    };
    this.#sender.submit(job);
    if (rng.chance(this.#o.duplicateProbability)) {
      record.duplicated = true;
      this.#sender.submit({ ...job, onAttempt: (result) => record.attempts.push(result) }, 0, clock.scale(100));
    }
  }
}
