import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { registerControlRoutes } from './hubspot/control-routes.ts';
import { registerCrmRoutes } from './hubspot/crm-routes.ts';
import type { HubSpotSandbox } from './hubspot/hubspot.ts';
import { registerJournalRoutes } from './hubspot/journal/routes.ts';

/** Registers more routes on the sandbox server (the Paragon half registers its API this way). */
export type SandboxPlugin = (app: FastifyInstance) => void | Promise<void>;

export interface BuildServerOptions {
  hubspot: HubSpotSandbox;
  plugins?: readonly SandboxPlugin[];
  log?: Logger;
  bodyLimitBytes?: number;
}

/** Builds (does not listen) the sandbox's fastify app: CRM v3 API, the Webhooks Journal, `/__sandbox/...` control routes, plugins. */
export async function buildServer(o: BuildServerOptions): Promise<FastifyInstance> {
  // Node refuses request heads over 16 KiB with a bare 431; allow more, so the CRM guard answers over-long URLs itself (414).
  const common = { bodyLimit: o.bodyLimitBytes ?? 10 * 1024 * 1024, logController: new LogController({ disableRequestLogging: true }), http: { maxHeaderSize: 256 * 1024 } };
  // Typed as the default instance: the pino logger type is not needed by any route.
  const app: FastifyInstance = o.log
    ? (Fastify({ ...common, loggerInstance: o.log.child({ module: 'sandbox' }) }) as unknown as FastifyInstance)
    : Fastify({ ...common, logger: false });
  registerCrmRoutes(app, o.hubspot.store, o.hubspot.accounts, { maxUrlLength: o.hubspot.maxUrlLength });
  registerControlRoutes(app, o.hubspot);
  registerJournalRoutes(app, o.hubspot.journal);
  for (const plugin of o.plugins ?? []) await plugin(app);
  return app;
}
