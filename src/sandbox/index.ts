import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createClock, type Clock } from './hubspot/clock.ts';
import { HubSpotSandbox, type HubSpotOptions } from './hubspot/hubspot.ts';
import { buildServer, type SandboxPlugin } from './server.ts';
import { createParagonSandbox, paragonPlugin, type ParagonSandbox, type ParagonSandboxOptions } from './paragon/index.ts';

export interface SandboxOptions {
  /** Default 0: any free port. The server binds 127.0.0.1 unless `host` says otherwise. */
  port?: number;
  host?: string;
  /** Multiplies every enforced duration (rate windows, index lag, webhook timeout and retries, daily reset). */
  timeScale?: number;
  hubspot?: HubSpotOptions;
  /**
   * Extra routes and wiring, run before listening. The Paragon half plugs in here: it registers its routes on
   * `app` and can subscribe to `sandbox.hubspot.onChange` through the `hubspot` argument.
   */
  plugins?: readonly ((app: FastifyInstance, hubspot: HubSpotSandbox) => void | Promise<void>)[];
  /** The Paragon half (App Events, Triggers API, trigger webhooks on HubSpot changes); off when unset. */
  paragon?: Omit<ParagonSandboxOptions, 'clock'>;
  log?: Logger;
}

export interface Sandbox {
  /** e.g. `http://127.0.0.1:41234`: the HubSpot API base (pass as `basePath`) and the control surface's host. */
  readonly baseUrl: string;
  readonly port: number;
  readonly clock: Clock;
  readonly app: FastifyInstance;
  readonly hubspot: HubSpotSandbox;
  readonly paragon: ParagonSandbox | undefined;
  /** Waits for webhook and workflow deliveries to settle (including scheduled retries). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the sandbox over real HTTP. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const clock = createClock(options.timeScale ?? 1);
  const hubspot = new HubSpotSandbox(options.hubspot ?? {}, clock, options.log);
  const plugins: SandboxPlugin[] = (options.plugins ?? []).map((p) => (app: FastifyInstance) => p(app, hubspot));
  const paragon = options.paragon ? createParagonSandbox({ defaultPortalId: hubspot.defaultPortalId, ...options.paragon, clock }) : undefined;
  if (paragon) plugins.push((app) => paragonPlugin(paragon)(app, hubspot));
  const app = await buildServer({ hubspot, plugins, ...(options.log ? { log: options.log } : {}) });
  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  return {
    baseUrl: `http://${host}:${port}`,
    port,
    clock,
    app,
    hubspot,
    paragon,
    idle: async () => {
      await Promise.all([hubspot.idle(), paragon?.idle()]);
    },
    close: async () => {
      await paragon?.stop();
      await hubspot.stop();
      await app.close();
    },
  };
}

export type { HubSpotOptions, SeedOptions } from './hubspot/hubspot.ts';
export type { AccountOptions, ApiFault } from './hubspot/accounts.ts';
export type { AppOptions, WebhookFaults, DeliveryRecord } from './hubspot/webhooks.ts';
export type { WorkflowOptions, WorkflowPostRecord } from './hubspot/workflows.ts';
export type { SubscriptionOptions, WebhookEvent } from './hubspot/webhook-events.ts';
export type { ChangeEvent, ChangeKind, ChangeListener } from './hubspot/changes.ts';
export type { JournalAppOptions, JournalFaults, JournalOptions } from './hubspot/journal/journal.ts';
export type { JournalVariants } from './hubspot/journal/events.ts';
export type { PortalTruth, TruthAssociation, TruthObject } from './hubspot/truth.ts';
export type { LimitPolicy, Tier, LimitConfig } from './hubspot/limits.ts';
export { signV1, signV2, signV3 } from './hubspot/signatures.ts';
export { HubSpotSandbox, DEFAULT_PORTAL_ID } from './hubspot/hubspot.ts';
export { ChangeStream } from './hubspot/change-stream.ts';
export { createParagonSandbox, generateSigningKeyPair, ParagonSandbox, type ParagonSandboxOptions } from './paragon/index.ts';
