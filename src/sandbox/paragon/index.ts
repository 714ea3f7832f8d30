/**
 * The Paragon half of the sandbox: App Events (with the user-token check, a rate limit and
 * injectable faults), `/sdk/me`, the ActionKit Triggers API, and trigger webhooks fired by
 * changes in the HubSpot sandbox. A test double: it imports nothing from the daemon.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { ChangeListener } from '../hubspot/changes.ts';
import { createClock, type Clock } from '../hubspot/clock.ts';
import { createRng } from '../hubspot/random.ts';
import { createTokenVerifier, type TokenCheck } from './auth.ts';
import { registerParagonControlRoutes } from './control-routes.ts';
import { AppEventGate, type AppEventFaults } from './faults.ts';
import { registerParagonRoutes } from './routes.ts';
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

  /** Registers the API and control routes on a fastify app (the shared sandbox server, or a standalone one). */
  register(app: FastifyInstance): void {
    registerParagonRoutes(app, this);
    registerParagonControlRoutes(app, this);
  }

  /** Fires trigger webhooks for this feed's changes (the HubSpot sandbox). */
  attach(feed: ChangeFeed): void {
    this.#unsubscribe.push(feed.onChange((change) => this.webhooks.handle(change)));
  }

  /** A `startSandbox` plugin: routes on the shared server, webhooks from its HubSpot half. */
  readonly plugin = (app: FastifyInstance, hubspot?: ChangeFeed): void => {
    this.register(app);
    if (hubspot) this.attach(hubspot);
  };

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

/** Creates the Paragon half; plug it into `startSandbox({ plugins: [p.plugin] })` or run it with `startParagonSandbox`. */
export function createParagonSandbox(options: ParagonSandboxOptions): ParagonSandbox {
  return new ParagonSandbox(options);
}

export interface RunningParagonSandbox {
  readonly baseUrl: string;
  readonly paragon: ParagonSandbox;
  close(): Promise<void>;
}

/** The Paragon half alone on its own port (no HubSpot changes, so no trigger webhooks unless `attach`ed). */
export async function startParagonSandbox(options: ParagonSandboxOptions & { port?: number; host?: string }): Promise<RunningParagonSandbox> {
  const paragon = createParagonSandbox(options);
  const app = Fastify({ logger: false, disableRequestLogging: true, bodyLimit: 10 * 1024 * 1024 });
  paragon.register(app);
  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    baseUrl: `http://${options.host ?? '127.0.0.1'}:${port}`,
    paragon,
    close: async () => {
      await paragon.stop();
      await app.close();
    },
  };
}

export { generateSigningKeyPair, type SigningKeyPair } from './keys.ts';
export { paragonSignature, type TriggerDelivery, type TriggerWebhookOptions } from './trigger-webhooks.ts';
export type { AppEventFaults, RejectRule } from './faults.ts';
export type { Subscription } from './subscriptions.ts';
