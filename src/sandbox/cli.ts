import type { Logger } from 'pino';
import { defaultSubscriptions } from './hubspot/defaults.ts';
import { DEFAULT_PORTAL_ID, type HubSpotSandbox } from './hubspot/hubspot.ts';
import { startSandbox, type Sandbox } from './index.ts';
import { generateSigningKeyPair } from './paragon/keys.ts';

export interface SandboxCommandOptions {
  port?: number;
  /** Seeds the initial data, the change stream and fault decisions. */
  seed?: number;
  timeScale?: number;
  log?: Logger;
  /** Where the sandbox's app posts webhook batches (e.g. the daemon's `/webhooks/hubspot`); none when unset. */
  webhookUrl?: string;
  /** Keep producing changes every this many wall ms; 0 = only the initial seed. Default 2000. */
  streamIntervalMs?: number;
  /** Lines for the operator; default stdout. */
  print?: (line: string) => void;
}

export const SANDBOX_APP_ID = 54321;
export const SANDBOX_CLIENT_SECRET = 'sandbox-client-secret';
/** The app's client id, for the Webhooks Journal's client-credentials token. */
export const SANDBOX_CLIENT_ID = 'sandbox-client-id';
export const SANDBOX_TOKEN = `pat-sandbox-${DEFAULT_PORTAL_ID}`;
export const SANDBOX_PROJECT_ID = 'sandbox-project';
export const SANDBOX_PARAGON_WEBHOOK_SECRET = 'sandbox-paragon-webhook-secret';
/** Where the stand-in serves the Triggers API (`paragon.actionKitUrl` = its base URL + this). */
export const SANDBOX_ACTION_KIT_PATH = '/actionkit';

/** The stand-in's Webhooks Journal app: the webhook app's id and secret, with the journal's client id. */
export const SANDBOX_JOURNAL_APP = { appId: SANDBOX_APP_ID, clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET };

/** The stand-in's Paragon project, checking user tokens against `publicKeyPem` (whose private half hubsync signs with). */
export function sandboxParagonOptions(publicKeyPem: string, seed: number) {
  return { projectId: SANDBOX_PROJECT_ID, publicKeyPem, webhookSecret: SANDBOX_PARAGON_WEBHOOK_SECRET, actionKitPath: SANDBOX_ACTION_KIT_PATH, seed };
}

/**
 * Realistic starting data, a day old, (a few hundred records of each standard type and the custom one,
 * most contacts and every project associated with a company, deals with a contact), a burst of changes,
 * and then a change every `streamIntervalMs` (0: none). Returns the stream's stop.
 */
export function seedDemoData(hs: HubSpotSandbox, seed: number, streamIntervalMs: number, portalId = DEFAULT_PORTAL_ID, initialChanges = 100): () => void {
  // The existing data predates the webhook subscription by a day: only polling can know it.
  const at = Date.now() - 25 * 3_600_000;
  const contacts = hs.seed({ portalId, objectType: 'contacts', count: 200, at });
  const companies = hs.seed({ portalId, objectType: 'companies', count: 40, at });
  const deals = hs.seed({ portalId, objectType: 'deals', count: 60, at });
  hs.seed({ portalId, objectType: 'tickets', count: 30, at });
  const projects = hs.seed({ portalId, objectType: 'p_projects', count: 10, at });
  const link = (fromType: string, fromId: string, toType: string, toId: string) => hs.associate(fromType, fromId, toType, toId, { portalId, at, silent: true });
  contacts.forEach((id, i) => i % 5 !== 4 && link('contacts', id, 'companies', companies[i % companies.length]!));
  projects.forEach((id, i) => link('p_projects', id, 'companies', companies[i]!));
  deals.forEach((id, i) => link('deals', id, 'contacts', contacts[i * 3]!));
  if (initialChanges > 0) hs.runStream({ seed, count: initialChanges, portalId });
  return streamIntervalMs > 0 ? hs.startStream({ seed: seed + 1, intervalMs: streamIntervalMs, portalId }) : () => {};
}

/**
 * `hubsync sandbox`: starts the stand-in standalone (HubSpot and Paragon on one port), seeds it,
 * and prints what to point a client, or hubsync's configuration, at.
 */
export async function runSandboxCommand(o: SandboxCommandOptions = {}): Promise<Sandbox> {
  const seed = o.seed ?? 1;
  const print = o.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  // The Paragon half checks user tokens against this key; hubsync signs them with its private half.
  const keys = generateSigningKeyPair();
  const sandbox = await startSandbox({
    paragon: sandboxParagonOptions(keys.publicKeyPem, seed),
    port: o.port ?? 0,
    timeScale: o.timeScale ?? 1,
    ...(o.log ? { log: o.log } : {}),
    hubspot: {
      seed,
      accounts: [{ portalId: DEFAULT_PORTAL_ID, accessToken: SANDBOX_TOKEN, tier: 'professional' }],
      apps: o.webhookUrl ? [{ appId: SANDBOX_APP_ID, clientSecret: SANDBOX_CLIENT_SECRET, targetUrl: o.webhookUrl, subscriptions: defaultSubscriptions() }] : [],
      journal: { apps: [SANDBOX_JOURNAL_APP] },
    },
  });
  const interval = o.streamIntervalMs ?? 2_000;
  seedDemoData(sandbox.hubspot, seed, interval);

  print(`HubSpot sandbox listening on ${sandbox.baseUrl}`);
  print(`  CRM API base (basePath / hubspot.baseUrl): ${sandbox.baseUrl}`);
  print(`  portalId ${DEFAULT_PORTAL_ID}, access token: ${SANDBOX_TOKEN}`);
  print(`  webhook app ${SANDBOX_APP_ID}, client secret: ${SANDBOX_CLIENT_SECRET}${o.webhookUrl ? `, posting to ${o.webhookUrl}` : ' (no webhookUrl: webhooks off)'}`);
  print(`  Webhooks Journal: client id ${SANDBOX_CLIENT_ID}, same client secret (token at ${sandbox.baseUrl}/oauth/v1/token)`);
  print(`  control: ${sandbox.baseUrl}/__sandbox/hubspot/{config,truth,deliveries,seed,mutate,stream,faults,index-lag,limits}`);
  print(`Paragon stand-in on the same port: App Events and the Connect SDK at ${sandbox.baseUrl} (paragon.baseUrl),`);
  print(`  the Triggers API at ${sandbox.baseUrl}${sandbox.paragon!.actionKitPath} (paragon.actionKitUrl), project ${SANDBOX_PROJECT_ID} (paragon.projectId),`);
  print(`  trigger webhooks signed with ${SANDBOX_PARAGON_WEBHOOK_SECRET} (paragon.webhookSecret); signing key for user tokens (paragon.signingKey):`);
  print(`  ${JSON.stringify(keys.privateKeyPem)}`);
  print(`  control: ${sandbox.baseUrl}/__sandbox/paragon/{app-events,stats,faults,outage,subscriptions,webhooks}`);
  print(`  seed ${seed}, time scale ${sandbox.clock.timeScale}${interval > 0 ? `, a change every ${interval} ms` : ''}`);
  return sandbox;
}
