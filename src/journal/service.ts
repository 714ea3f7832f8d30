/**
 * The journal as `hubsync run` starts it (worker role): the subscription keeper and one consumer
 * per journal (the global one, or each account's local one), sharing one client-credentials token.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config, JournalConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import { loopLifecycle, sleep, type Service } from '../loop.ts';
import type { Metrics } from '../metrics/registry.ts';
import { createJournalApi, type JournalApi } from './api.ts';
import { createJournalConsumer, type ConsumerDeps, type JournalTarget } from './consumer.ts';
import { journalScopes } from './subscriptions.ts';
import { syncSubscriptions } from './sync.ts';
import { createTokenSource, type TokenSource } from './token.ts';

/** The journals to read: the global one, or one per configured account (`variant: local`). */
export function journalTargets(config: Pick<Config, 'jobs' | 'hubspot'>, journal: JournalConfig): JournalTarget[] {
  if (journal.variant === 'global') return [{ key: 'global' }];
  const portals = [...new Set([...config.hubspot.accounts.map((a) => a.portalId), ...config.jobs.map((j) => j.portalId)])].sort((a, b) => a - b);
  return portals.map((portalId) => ({ key: `portal:${portalId}`, installPortalId: portalId }));
}

/** The app's token for the journal, asking for the journal's scopes and the subscribed types'. */
export function journalTokens(config: Pick<Config, 'jobs' | 'hubspot'>, journal: JournalConfig, fetchImpl?: typeof fetch): TokenSource {
  return createTokenSource({
    url: journal.tokenUrl ?? `${config.hubspot.baseUrl.replace(/\/+$/, '')}/oauth/v1/token`,
    clientId: journal.clientId,
    clientSecret: journal.clientSecret,
    scopes: journalScopes({ jobs: config.jobs, hubspot: { journal } }),
    timeoutMs: journal.requestTimeoutMs,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

export function journalApi(config: Pick<Config, 'hubspot'>, journal: JournalConfig, tokens: TokenSource, target?: JournalTarget): JournalApi {
  return createJournalApi({ baseUrl: config.hubspot.baseUrl, apiVersion: journal.apiVersion, installPortalId: target?.installPortalId, tokens, timeoutMs: journal.requestTimeoutMs });
}

export interface JournalServicesDeps {
  db: Kysely<Database>;
  log: Logger;
  metrics?: Metrics;
  config: Config;
  worker: string;
  onDownloaded?: ConsumerDeps['onDownloaded'];
}

/** The worker's journal services; none without `hubspot.journal`. */
export function createJournalServices(deps: JournalServicesDeps): Service[] {
  const journal = deps.config.hubspot.journal;
  if (!journal) return [];
  const tokens = journalTokens(deps.config, journal);
  const services: Service[] = [];
  if (journal.subscriptions.manage) services.push(subscriptionKeeper(deps, journal, journalApi(deps.config, journal, tokens)));
  for (const target of journalTargets(deps.config, journal)) {
    services.push(
      createJournalConsumer({
        db: deps.db,
        log: deps.log,
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
        config: journal,
        target,
        api: journalApi(deps.config, journal, tokens, target),
        jobs: deps.config.jobs,
        worker: deps.worker,
        ...(deps.onDownloaded ? { onDownloaded: deps.onDownloaded } : {}),
      }),
    );
  }
  return services;
}

/**
 * Syncs the subscriptions once at start (in the background: an unreachable HubSpot does not hold
 * up the worker) and every `subscriptions.syncIntervalSeconds` (0: only at start).
 */
function subscriptionKeeper(deps: JournalServicesDeps, journal: JournalConfig, api: JournalApi): Service {
  const log = deps.log.child({ module: 'journal-subscriptions' });
  const intervalMs = journal.subscriptions.syncIntervalSeconds * 1000;
  const lifecycle = loopLifecycle(async (control) => {
    while (!control.stopping) {
      try {
        const report = await syncSubscriptions({ db: deps.db, api, log, config: { jobs: deps.config.jobs, journal } });
        deps.metrics?.count('journal.subscriptions.failures', report.failures.length);
      } catch (err) {
        log.error({ err: coerceError(err) }, 'journal subscription sync failed');
      }
      if (intervalMs === 0) return;
      await sleep(intervalMs, control.signal);
    }
  });
  return { name: 'journal-subscriptions', start: lifecycle.start, stop: lifecycle.stop };
}
