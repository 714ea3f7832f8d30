/**
 * The Paragon half of the sandbox: App Events (with the user-token check, a rate limit and
 * injectable faults), `/sdk/me`, the ActionKit Triggers API, and trigger webhooks fired by
 * changes in the HubSpot sandbox. A test double: it imports nothing from the daemon.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { registerParagonControlRoutes } from './control-routes.ts';
import { registerParagonRoutes } from './routes.ts';
import { ParagonSandbox, type ChangeFeed, type ParagonSandboxOptions } from './sandbox.ts';

/** Registers the API and control routes on a fastify app (the shared sandbox server, or a standalone one). */
function registerParagon(app: FastifyInstance, paragon: ParagonSandbox): void {
  registerParagonRoutes(app, paragon);
  registerParagonControlRoutes(app, paragon);
}

/** A `startSandbox` plugin: the routes on the shared server, trigger webhooks from its HubSpot half. */
export function paragonPlugin(paragon: ParagonSandbox): (app: FastifyInstance, hubspot?: ChangeFeed) => void {
  return (app, hubspot) => {
    registerParagon(app, paragon);
    if (hubspot) paragon.attach(hubspot);
  };
}

/** Creates the Paragon half; plug it into `startSandbox({ plugins: [paragonPlugin(p)] })` or run it with `startParagonSandbox`. */
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
  const app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024 });
  registerParagon(app, paragon);
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
export { ParagonSandbox, type ChangeFeed, type ParagonSandboxOptions, type ReceivedAppEvent } from './sandbox.ts';
