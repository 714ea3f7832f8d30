import { createServer, type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { parseConfigObject } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { defaultSubscriptions } from '../sandbox/hubspot/defaults.ts';
import { DEFAULT_PORTAL_ID } from '../sandbox/hubspot/hubspot.ts';
import { SANDBOX_ACTION_KIT_PATH, SANDBOX_APP_ID, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_JOURNAL_APP, SANDBOX_PARAGON_WEBHOOK_SECRET, SANDBOX_PROJECT_ID, sandboxParagonOptions, seedDemoData } from '../sandbox/cli.ts';
import { generateSigningKeyPair, startSandbox, type Sandbox } from '../sandbox/index.ts';

/**
 * `sandbox: true`: the stand-in HubSpot and Paragon run inside this process, and the daemon's
 * configuration is rewritten to point at them (base URLs, tokens, app secret, signing key). Only
 * the CLI reaches this file; no daemon module imports the sandbox.
 */
export interface SandboxMode {
  config: Config;
  sandbox: Sandbox;
  baseUrl: string;
  /** Starts webhook delivery to the receiver once it listens (`http://127.0.0.1:PORT`). */
  connect(receiverBaseUrl: string): void;
  /** Stops the change stream (the stand-in keeps answering). */
  stopStream(): void;
  close(): Promise<void>;
}

/** A port nothing listens on right now, for a receiver configured with port 0. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startSandboxMode(config: Config, log: Logger): Promise<SandboxMode> {
  const options = config.sandboxOptions;
  const portals = standInPortals(config);
  const keys = generateSigningKeyPair();
  const receiverPort = config.http.port || (await freePort());
  const sandbox = await startSandbox({
    port: options.port,
    timeScale: options.timeScale,
    log: log.child({ module: 'sandbox' }),
    hubspot: {
      seed: options.seed,
      accounts: portals.map((portalId) => ({ portalId, accessToken: `pat-sandbox-${portalId}`, tier: 'professional' as const })),
      faults: { dropRate: options.webhookDropRate, duplicateRate: options.webhookDuplicateRate },
      journal: { apps: [SANDBOX_JOURNAL_APP] },
    },
    paragon: sandboxParagonOptions(keys.publicKeyPem, options.seed),
  });
  const derived = parseConfigObject({
    ...config,
    hubspot: standInHubSpot(config, sandbox.baseUrl, portals),
    // The receiver's own address is the public URL the stand-in signs and Paragon triggers call.
    http: { ...config.http, port: receiverPort, publicUrl: config.http.publicUrl || `http://127.0.0.1:${receiverPort}` },
    paragon: {
      ...config.paragon,
      triggers: config.paragon?.triggers ?? [],
      projectId: SANDBOX_PROJECT_ID,
      signingKey: keys.privateKeyPem,
      webhookSecret: SANDBOX_PARAGON_WEBHOOK_SECRET,
      baseUrl: sandbox.baseUrl,
      actionKitUrl: `${sandbox.baseUrl}${sandbox.paragon!.actionKitPath}`,
    },
  });
  const stops: (() => void)[] = [];
  log.info({ sandbox: sandbox.baseUrl, portals }, 'sandbox mode: HubSpot and Paragon stand-in running in this process');
  return {
    config: derived,
    sandbox,
    baseUrl: sandbox.baseUrl,
    connect(receiverBaseUrl) {
      sandbox.hubspot.webhooks.addApp({
        appId: SANDBOX_APP_ID,
        clientSecret: SANDBOX_CLIENT_SECRET,
        targetUrl: `${receiverBaseUrl}/webhooks/hubspot`,
        subscriptions: defaultSubscriptions(),
      });
      for (const portalId of portals) stops.push(seedDemoData(sandbox.hubspot, options.seed, options.streamIntervalMs, portalId, options.initialChanges));
    },
    stopStream() {
      for (const stop of stops.splice(0)) stop();
    },
    async close() {
      for (const stop of stops.splice(0)) stop();
      await sandbox.close();
    },
  };
}

/** The portals the jobs name (the stand-in's default one when none name any): one stand-in account each. */
function standInPortals(config: Config): number[] {
  const portals = [...new Set(config.jobs.map((job) => job.portalId))];
  return portals.length > 0 ? portals : [DEFAULT_PORTAL_ID];
}

/**
 * The hubspot section pointed at a stand-in: its app, an account per portal, and the journal (when
 * configured) read with the stand-in's app (its token endpoint is the stand-in's own).
 */
function standInHubSpot(config: Config, baseUrl: string, portals: readonly number[]) {
  const journal = config.hubspot.journal;
  return {
    ...config.hubspot,
    baseUrl,
    apps: [{ appId: SANDBOX_APP_ID, clientSecret: SANDBOX_CLIENT_SECRET }],
    accounts: portals.map((portalId) => ({ portalId, accessToken: `pat-sandbox-${portalId}`, tier: 'professional' })),
    ...(journal ? { journal: { ...journal, clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET, tokenUrl: undefined } } : {}),
  };
}

/**
 * `sandboxOptions.url`: a stand-in already running (`hubsync sandbox`, shared by a web and a
 * worker process, or by several daemons) instead of one of this process's own. Its accounts, app
 * and Paragon project are the ones `hubsync sandbox` prints; the Paragon side is used when
 * `paragon.signingKey` is the key it printed.
 */
export function useRunningSandbox(config: Config, log: Logger): Pick<SandboxMode, 'config' | 'baseUrl' | 'connect' | 'close'> {
  const baseUrl = config.sandboxOptions.url.replace(/\/+$/, '');
  const portals = standInPortals(config);
  const derived = parseConfigObject({
    ...config,
    hubspot: standInHubSpot(config, baseUrl, portals),
    ...(config.paragon?.signingKey
      ? {
          paragon: {
            ...config.paragon,
            projectId: SANDBOX_PROJECT_ID,
            webhookSecret: SANDBOX_PARAGON_WEBHOOK_SECRET,
            baseUrl,
            actionKitUrl: `${baseUrl}${SANDBOX_ACTION_KIT_PATH}`,
          },
        }
      : { paragon: undefined }),
  });
  log.info({ sandbox: baseUrl, portals }, 'sandbox mode: using the stand-in already running at sandboxOptions.url');
  return { config: derived, baseUrl, connect() {}, async close() {} };
}
