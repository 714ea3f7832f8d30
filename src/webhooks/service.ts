/**
 * The webhook services `hubsync run` starts: the receiver (`web`) and the processor (`worker`).
 */
import type { FastifyInstance } from 'fastify';
import type { Service } from '../cli/lifecycle.ts';
import type { Config } from '../config/schema.ts';
import { webhookStatus } from '../db/webhook-events.ts';
import { processWebhookBatch, type ProcessorDeps } from './processor.ts';
import { buildReceiver, type ReceiverDeps } from './receiver.ts';

/** The receiver as a service: listens on `http.host:http.port`; stop closes it after in-flight requests finish. */
export function createReceiverService(deps: ReceiverDeps): Service & { app: FastifyInstance; address(): string | undefined } {
  const app = buildReceiver(deps);
  let address: string | undefined;
  return {
    name: 'webhook-receiver',
    app,
    address: () => address,
    async start() {
      address = await app.listen({ host: deps.config.http.host, port: deps.config.http.port });
      deps.log.info({ address }, 'webhook receiver listening');
    },
    async stop() {
      await app.close();
    },
  };
}

export interface ProcessorServiceDeps extends ProcessorDeps {
  intervalMs: number;
  /** How often the backlog gauges are refreshed from the database. */
  statusIntervalMs?: number;
}

/** Properties to hydrate: the sync job's list for that portal and type, else all. */
export function jobProperties(config: Pick<Config, 'jobs'>): (portalId: number, objectType: string) => readonly string[] | 'all' {
  return (portalId, objectType) => config.jobs.find((job) => job.portalId === portalId && job.objectType === objectType)?.properties ?? 'all';
}

/**
 * The processor loop as a service: runs batches back to back while there is work, then waits
 * `intervalMs`. Stop ends the wait at once and resolves after the batch in flight is done.
 */
export function createProcessorService(deps: ProcessorServiceDeps): Service & { idle(): Promise<void> } {
  const log = deps.log.child({ module: 'webhook-processor' });
  const statusEveryMs = deps.statusIntervalMs ?? 10_000;
  let running = false;
  let loop: Promise<void> = Promise.resolve();
  let wake: (() => void) | undefined;
  let lastStatus = 0;
  const idleWaiters: (() => void)[] = [];

  const refreshStatus = async () => {
    if (Date.now() - lastStatus < statusEveryMs) return;
    lastStatus = Date.now();
    const status = await webhookStatus(deps.db);
    deps.metrics.gauge('webhook.backlog', status.backlog);
    deps.metrics.gauge('webhook.oldest_unprocessed_seconds', status.oldestUnprocessedSeconds ?? 0);
    deps.metrics.gauge('webhook.failed', status.failed);
    deps.metrics.gauge('webhook.quarantined', status.quarantined);
  };

  const run = async () => {
    while (running) {
      let full = false;
      try {
        const result = await processWebhookBatch({ ...deps, log });
        full = result.claimed >= deps.config.processBatchSize;
        if (!full) for (const resolve of idleWaiters.splice(0)) resolve();
        await refreshStatus();
      } catch (err) {
        log.error({ err }, 'webhook processing failed');
      }
      if (full || !running) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deps.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };

  return {
    name: 'webhook-processor',
    async start() {
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      for (const resolve of idleWaiters.splice(0)) resolve();
    },
    /** Resolves after the next batch that found less than a full batch of work (tests, demo). */
    idle() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        wake?.();
      });
    },
  };
}
