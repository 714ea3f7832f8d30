import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { createOutboxDelivery } from './delivery.ts';
import { createOutboxSource } from './source.ts';
import type { Service } from '../loop.ts';

/**
 * The `worker` role's outbox services, as the configuration asks for them: the table watcher when
 * `outbox.source` is set, the delivery loop when `paragon` is. Start them in this order (watcher
 * first, so a start finds its events queued).
 */
export function outboxServices(deps: { db: Kysely<Database>; config: Config; log: Logger; metrics?: Metrics }): Service[] {
  const { db, config, log, metrics } = deps;
  const services: Service[] = [];
  const source = config.outbox.source;
  if (source) services.push(createOutboxSource({ db, outbox: { ...config.outbox, source }, log, ...(metrics ? { metrics } : {}) }));
  if (config.paragon) {
    services.push(createOutboxDelivery({ db, paragon: config.paragon, outbox: config.outbox, log, ...(metrics ? { metrics } : {}) }));
  } else if (source) {
    log.warn('outbox.source is set but paragon is not configured: events are queued, not delivered');
  }
  return services;
}
