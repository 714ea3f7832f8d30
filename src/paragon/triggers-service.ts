import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { loopLifecycle, sleep, type Service } from '../loop.ts';
import type { Fetch } from './http.ts';
import { syncTriggers, type TriggerSyncReport } from './triggers.ts';

export interface TriggerSyncServiceDeps {
  log: Logger;
  /** Remembers the managed users, so removed ones are cleaned up. */
  db?: Kysely<Database>;
  metrics?: Metrics;
  fetch?: Fetch;
}

/**
 * The worker's trigger-subscription keeper: syncs once at start (in the background, so an
 * unreachable Paragon does not hold up the worker) and every `paragon.triggersSyncIntervalSeconds`,
 * re-creating subscriptions someone deleted and reporting ERRORED ones. The `triggers.errored`
 * gauge holds the latest count.
 */
export function createTriggerSyncService(config: Pick<Config, 'paragon' | 'http'>, deps: TriggerSyncServiceDeps): Service & { lastReport(): TriggerSyncReport | undefined } {
  const log = deps.log.child({ module: 'paragon-triggers' });
  const intervalMs = (config.paragon?.triggersSyncIntervalSeconds ?? 0) * 1000;
  const lifecycle = loopLifecycle(run);
  const { control } = lifecycle;
  let last: TriggerSyncReport | undefined;

  async function run(): Promise<void> {
    while (!control.stopping) {
      try {
        last = await syncTriggers(config, { log, signal: control.signal, ...(deps.db ? { db: deps.db } : {}), ...(deps.fetch ? { fetch: deps.fetch } : {}) });
        deps.metrics?.gauge('triggers.errored', last.errored.length);
        deps.metrics?.count('triggers.sync.failures', last.failures.length);
      } catch (err) {
        log.error({ err }, 'trigger subscription sync failed');
      }
      if (intervalMs === 0) return;
      await sleep(intervalMs, control.signal);
    }
  }

  return {
    name: 'paragon-trigger-sync',
    lastReport: () => last,
    async start() {
      // Also with no triggers configured: users who had some may still have subscriptions to delete.
      if (!config.paragon || (config.paragon.triggers.length === 0 && !deps.db)) return;
      await lifecycle.start();
    },
    stop: lifecycle.stop,
  };
}
