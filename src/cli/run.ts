import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ping, type DatabaseHandle } from '../db/index.ts';
import { UsageError } from '../errors.ts';
import { VERSION } from './version.ts';
import { openHubSpotAccounts } from '../hubspot/accounts.ts';
import type { HubSpotAccounts } from '../hubspot/client.ts';
import { metricsService, type Collector } from '../metrics/loop.ts';
import { Metrics } from '../metrics/registry.ts';
import { createOpsServer } from '../metrics/server.ts';
import { ledgerCollector } from '../mirror/metrics.ts';
import { createLedgerRetention } from '../mirror/retention.ts';
import { outboxCollector } from '../outbox/api.ts';
import { outboxServices } from '../outbox/services.ts';
import { createTriggerSyncService } from '../paragon/triggers-service.ts';
import { createJournalServices } from '../journal/service.ts';
import { journalCollector } from '../journal/status.ts';
import { freshnessReadiness } from '../polling/freshness.ts';
import { createPollingService, pollingCollector, resolveJobTypes } from '../polling/index.ts';
import { workerId as processId } from '../polling/scheduler.ts';
import { createHeartbeatService } from '../processes/heartbeat.ts';
import { createVerifyService } from '../verify/service.ts';
import { webhookServices } from '../webhooks/service.ts';
import type { Context } from './context.ts';
import { openReadyDatabase } from './context.ts';
import type { Service } from '../loop.ts';
import { handleSignals, startAll } from './lifecycle.ts';
import type { SandboxMode } from './sandbox-mode.ts';

export const ROLES = ['all', 'web', 'worker'] as const;
export type Role = (typeof ROLES)[number];

export interface Daemon {
  services: Service[];
  metrics: Metrics;
  accounts: HubSpotAccounts | undefined;
  /** The receiver's address once it listens (web and all roles). */
  receiverUrl(): string | undefined;
  /** The jobs as the worker runs them: types resolved to the mirror's keys, associations filled in. */
  jobs: Config['jobs'];
}

/** Wires every module a role runs, in start order: receiver, processor, polling, journal, outbox, metrics. */
export async function buildDaemon(config: Config, handle: DatabaseHandle, log: Logger, role: Role, options: { timeScale?: number } = {}): Promise<Daemon> {
  const { db } = handle;
  const metrics = new Metrics();
  const worker = role !== 'web';
  // One id for this process: its heartbeat row and the owner of the job leases it takes.
  const id = processId();
  const heartbeat = createHeartbeatService({ db, log, id, role, version: VERSION });
  const accounts = worker
    ? await openHubSpotAccounts(db, config.hubspot, { log, metrics, ...(options.timeScale ? { timeScale: options.timeScale } : {}) })
    : undefined;
  // Every type as the mirror keys it (custom names through the portals' schemas); an unknown one is a configuration error.
  if (accounts) config = { ...config, jobs: await resolveJobTypes(config.jobs, accounts.types) };
  const freshness = freshnessReadiness(db, config.jobs);
  const readiness = async () => {
    const [own, data] = [heartbeat.readiness(), await freshness()];
    return { ok: own.ok && data.ok, reasons: [...own.reasons, ...data.reasons] };
  };
  const services: Service[] = [heartbeat];
  services.push(...webhookServices({ config, db, log, metrics, listen: handle.listen, readiness, processId: id, ...(accounts ? { reader: accounts.reader } : {}) }, role));
  const collectors: Collector[] = [];
  if (worker && accounts) {
    const polling = createPollingService({ db, accounts, log, metrics, jobs: config.jobs, worker: id });
    services.push(polling);
    services.push(...createJournalServices({ db, log, metrics, config, worker: polling.worker }));
    services.push(...outboxServices({ db, config, log, metrics }));
    if (config.paragon) services.push(createTriggerSyncService(config, { log, db, metrics }));
    services.push(createLedgerRetention({ db, log, retentionHours: config.ledger.retentionHours }));
    services.push(createVerifyService({ db, accounts, jobs: config.jobs, config: config.verify, log, metrics }));
    const paths = config.hubspot.journal ? (['webhook', 'journal', 'poll'] as const) : (['webhook', 'poll'] as const);
    const journalGroups = new Set(config.jobs.map((job) => `${job.portalId}/${job.objectType}`));
    collectors.push(outboxCollector(db), pollingCollector(db, config.jobs), ledgerCollector(db, { paths, journalGroups }));
    if (config.hubspot.journal) collectors.push(journalCollector(db));
  }
  services.push(metricsService({ metrics, log, config: config.metrics, collectors }));
  if (config.metrics.port > 0) {
    const ready = async () => {
      const verdict = await readiness();
      const database = await ping(db).then(() => [], (err: unknown) => [`database unreachable: ${(err as Error).message}`]);
      return { ok: verdict.ok && database.length === 0, reasons: [...database, ...verdict.reasons] };
    };
    services.push(createOpsServer({ metrics, log, host: config.metrics.host, port: config.metrics.port, readiness: ready }));
  }
  const receiver = services.find((service) => 'address' in service) as (Service & { address(): string | undefined }) | undefined;
  return { services, metrics, accounts, receiverUrl: () => receiver?.address(), jobs: config.jobs };
}

/** `hubsync run`: start the role's services, then wait for SIGTERM/SIGINT and drain. */
export async function runDaemon(ctx: Context, role: Role): Promise<number> {
  const { log } = ctx;
  let config = ctx.config;
  if (role !== 'all' && !config.database.url) {
    throw new UsageError(`--role ${role} needs a shared Postgres (database.url); the embedded database runs only with --role all`);
  }
  // The daemon owns an embedded database's directory and serves it to the other commands.
  const handle = await openReadyDatabase(ctx, { serve: true });
  let sandbox: Pick<SandboxMode, 'config' | 'baseUrl' | 'connect' | 'close'> | undefined;
  let stopServices: () => Promise<void>;
  let daemon: Daemon;
  try {
    if (config.sandbox) {
      const { startSandboxMode, useRunningSandbox } = await import('./sandbox-mode.ts');
      if (!config.sandboxOptions.url && role !== 'all') {
        log.warn(
          { role },
          `sandbox mode with --role ${role}: this process starts a stand-in of its own, which the other role's process does not share ` +
            '(a worker would poll an empty HubSpot); run `hubsync sandbox --webhook-url <receiver>/webhooks/hubspot` and set sandboxOptions.url to share one',
        );
      }
      sandbox = config.sandboxOptions.url ? useRunningSandbox(config, log) : await startSandboxMode(config, log);
      config = sandbox.config;
    }
    daemon = await buildDaemon(config, handle, log, role, { timeScale: config.sandboxOptions.timeScale });
    stopServices = await startAll(daemon.services, log);
    const receiverUrl = daemon.receiverUrl();
    if (sandbox && receiverUrl) sandbox.connect(receiverUrl.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//127.0.0.1:'));
  } catch (err) {
    await sandbox?.close();
    await handle.close();
    throw err;
  }
  return new Promise<number>((resolve) => {
    handleSignals(
      async () => {
        await stopServices();
        daemon.accounts?.close();
        await sandbox?.close();
        await handle.close();
      },
      { log, exit: (code) => resolve(code) },
    );
    log.info({ role, database: handle.description, receiver: daemon.receiverUrl(), sandbox: sandbox?.baseUrl }, 'hubsync running');
  });
}
