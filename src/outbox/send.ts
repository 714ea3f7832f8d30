/**
 * Delivering one claimed outbox row: sign the user's token, POST the App Event, record what
 * happened (sent, retry later, dead) and tell the flow control.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { OutboxConfig, ParagonConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { createAppEventsClient } from '../paragon/app-events.ts';
import type { Fetch } from '../paragon/http.ts';
import { createUserTokenSigner } from '../paragon/token.ts';
import type { DeliveryFlow } from './flow.ts';
import { afterFailure, classifyOutcome, type DeliveryResult } from './policy.ts';
import { markFailed, markSent, type OutboxRow } from './store.ts';

export interface SendDeps {
  db: Kysely<Database>;
  paragon: ParagonConfig;
  outbox: OutboxConfig;
  flow: DeliveryFlow;
  log: Logger;
  metrics?: Metrics | undefined;
  fetch?: Fetch | undefined;
  now: () => number;
  random: () => number;
}

/** Sends one claimed row; the update is guarded by `claimToken`, so a row whose claim was taken over is left alone. */
export type SendRow = (row: OutboxRow, claimToken: string) => Promise<DeliveryResult>;

export function createSendRow(deps: SendDeps): SendRow {
  const { db, outbox, flow, log, metrics, now, random } = deps;
  const signer = createUserTokenSigner({ projectId: deps.paragon.projectId, signingKey: deps.paragon.signingKey, ttlSeconds: deps.paragon.tokenTtlSeconds });
  const post = createAppEventsClient({
    baseUrl: deps.paragon.baseUrl,
    projectId: deps.paragon.projectId,
    timeoutMs: outbox.requestTimeoutMs,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const policy = { maxAttempts: outbox.maxAttempts, backoffBaseMs: outbox.backoffBaseMs, backoffMaxMs: outbox.backoffMaxMs };

  return async (row, claimToken) => {
    const started = now();
    const token = await signer.token(row.user_id, started);
    const outcome = await post(token, { name: row.name, payload: row.payload });
    const finished = now();
    const result = classifyOutcome(outcome, finished);
    metrics?.observe('outbox.request_ms', finished - started);
    if (result.kind === 'sent') {
      await markSent(db, row.id, new Date(finished), result.status);
      metrics?.count('outbox.delivered');
      metrics?.observe('outbox.delivery_lag_ms', finished - row.created_at.getTime());
      const afterFailures = flow.sent();
      if (afterFailures > 0) log.info({ afterFailures }, 'paragon reachable again: delivery resumed');
      return result;
    }
    const update = afterFailure(row, result, policy, finished, random());
    const applied = await markFailed(db, row.id, claimToken, update);
    metrics?.count('outbox.failed', 1, { kind: result.kind });
    if (update.status === 'dead' && applied) {
      metrics?.count('outbox.dead');
      log.error({ id: row.id, event: row.name, userId: row.user_id, status: result.status, error: result.error, failures: update.failures }, 'app event dead: redrive with `hubsync outbox retry --dead`');
    } else if (result.kind === 'permanent') {
      log.warn({ id: row.id, event: row.name, status: result.status, error: result.error, failures: update.failures }, 'app event refused by paragon');
    } else {
      log.debug({ id: row.id, status: result.status, error: result.error }, 'app event delivery failed, will retry');
      const pause = flow.transient(result, now(), random());
      if (pause.starts) {
        log.warn({ status: result.status, error: result.error, pauseMs: pause.pauseMs }, result.throttled ? 'paragon throttling: pausing delivery' : 'paragon unavailable: pausing delivery');
      }
    }
    return result;
  };
}
