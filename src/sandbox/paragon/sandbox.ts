/** The Paragon half's state: App Events received, subscriptions, trigger webhooks, connected users. */
import { randomUUID } from 'node:crypto';
import type { ChangeListener } from '../hubspot/changes.ts';
import { createClock, type Clock } from '../hubspot/clock.ts';
import { createRng } from '../hubspot/random.ts';
import { createTokenVerifier, type TokenCheck } from './auth.ts';
import { AppEventGate, type AppEventFaults } from './faults.ts';
import { credentialIdFor, SubscriptionStore } from './subscriptions.ts';
import { TriggerWebhooks, type TriggerWebhookOptions } from './trigger-webhooks.ts';

export interface ParagonSandboxOptions {
  projectId?: string;
  /** SPKI PEM the user tokens must verify against (see `generateSigningKeyPair`). */
  publicKeyPem: string;
  /** Signs trigger webhooks (`x-paragon-signature`). */
  webhookSecret?: string;
  /** Shared with the HubSpot half when plugged into `startSandbox`; else made from `timeScale`. */
  clock?: Clock;
  timeScale?: number;
  seed?: number;
  faults?: Partial<AppEventFaults>;
  webhooks?: TriggerWebhookOptions;
  /** The HubSpot portal every user is connected to unless `connect()` says otherwise (undefined: none). */
  defaultPortalId?: number;
  /** Where the Triggers API lives on the sandbox's host (hubsync's `paragon.actionKitUrl` = base URL + this). */
  actionKitPath?: string;
  /** Echo `webhookOverride.metadata` and headers in subscription responses; default false, as Paragon's documented responses. */
  echoWebhookMetadata?: boolean;
}

export interface ReceivedAppEvent {
  seq: number;
  name: string;
  payload: Record<string, unknown>;
  /** The token's `sub`. */
  userId: string;
  /** Epoch ms. */
  receivedAt: number;
}

/** Anything with the HubSpot sandbox's change feed. */
export interface ChangeFeed {
  onChange(listener: ChangeListener): () => void;
}

export class ParagonSandbox {
  readonly projectId: string;
  readonly webhookSecret: string;
  readonly actionKitPath: string;
  /** Subscription responses echo `webhookOverride.metadata` and headers (a switch tests flip). */
  echoWebhookMetadata: boolean;
  readonly clock: Clock;
  readonly gate: AppEventGate;
  readonly subscriptions: SubscriptionStore;
  readonly webhooks: TriggerWebhooks;
  /** Ground truth: every App Event answered 201, in arrival order. */
  appEvents: ReceivedAppEvent[] = [];
  stats = { accepted: 0, throttled: 0, errors: 0, outage: 0, rejected: 0, unauthorized: 0, badRequest: 0 };
  /** App Event requests waiting out the injected latency right now (they are accepted even if the client goes away). */
  inFlight = 0;
  readonly verifyToken: (authorization: string | undefined) => Promise<TokenCheck>;
  readonly #connections = new Map<string, number | null>();
  readonly #defaultPortalId: number | undefined;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(o: ParagonSandboxOptions) {
    this.projectId = o.projectId ?? randomUUID();
    this.webhookSecret = o.webhookSecret ?? 'sandbox-paragon-signing-secret';
    this.actionKitPath = o.actionKitPath ?? '/actionkit';
    this.echoWebhookMetadata = o.echoWebhookMetadata ?? false;
    this.clock = o.clock ?? createClock(o.timeScale ?? 1);
    this.#defaultPortalId = o.defaultPortalId;
    const rng = createRng(o.seed ?? 1);
    this.gate = new AppEventGate(this.clock, rng, o.faults);
    this.subscriptions = new SubscriptionStore(() => this.clock.now());
    this.verifyToken = createTokenVerifier(o.publicKeyPem, this.projectId, () => this.clock.now());
    this.webhooks = new TriggerWebhooks(
      { clock: this.clock, rng, store: this.subscriptions, projectId: this.projectId, secret: this.webhookSecret, portalOf: (u) => this.portalOf(u) },
      o.webhooks,
    );
  }

  /** Fires trigger webhooks for this feed's changes (the HubSpot sandbox). */
  attach(feed: ChangeFeed): void {
    this.#unsubscribe.push(feed.onChange((change) => this.webhooks.handle(change)));
  }

  /** Connects a user's HubSpot to a portal (null: disconnected). */
  connect(userId: string, portalId: number | null): void {
    this.#connections.set(userId, portalId);
  }

  portalOf(userId: string): number | undefined {
    const explicit = this.#connections.get(userId);
    if (explicit === null) return undefined;
    return explicit ?? this.#defaultPortalId;
  }

  credentialOf(userId: string): string {
    return credentialIdFor(userId, 'hubspot');
  }

  recordAppEvent(name: string, payload: Record<string, unknown>, userId: string): void {
    this.stats.accepted++;
    this.appEvents.push({ seq: this.appEvents.length + 1, name, payload, userId, receivedAt: this.clock.now() });
  }

  /** Forgets received App Events and counters (subscriptions stay). */
  reset(): void {
    this.appEvents = [];
    for (const key of Object.keys(this.stats) as (keyof ParagonSandbox['stats'])[]) this.stats[key] = 0;
  }

  /** Resolves once no trigger webhook is queued, in flight or waiting to retry. */
  idle(): Promise<void> {
    return this.webhooks.idle();
  }

  async stop(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off();
    await this.webhooks.stop();
  }
}

