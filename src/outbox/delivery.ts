/**
 * The outbox delivery loop (`worker` role): claim due App Events, POST each to Paragon with the
 * user's token, record the outcome. Delivery is at-least-once: a row is marked sent only after
 * Paragon's 201, so a crash in between sends it again once its lease expires.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { OutboxConfig, ParagonConfig } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { failureBackoff, inBatches, loopLifecycle, sleep, type Service } from '../loop.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { Fetch } from '../paragon/http.ts';
import { DeliveryFlow } from './flow.ts';
import { deliverRound, type RoundResult } from './round.ts';
import { createSendRow } from './send.ts';
import { deleteSentBefore } from './store.ts';

export interface DeliveryDeps {
  db: Kysely<Database>;
  paragon: ParagonConfig;
  outbox: OutboxConfig;
  log: Logger;
  metrics?: Metrics;
  fetch?: Fetch;
  now?: () => number;
  random?: () => number;
}

export interface OutboxDelivery extends Service {
  /** One claim-and-deliver round; returns how many rows it attempted (0: nothing due). Exposed for tests. */
  runOnce(): Promise<number>;
}

/**
 * Creates the delivery loop as a Service: rounds of claim-and-send (`round.ts`, each row through
 * `send.ts`) paced by one flow control (`flow.ts`), and the pruning of sent rows.
 */
export function createOutboxDelivery(deps: DeliveryDeps): OutboxDelivery {
  const { db, outbox, metrics } = deps;
  const log = deps.log.child({ module: 'outbox' });
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const flow = new DeliveryFlow(outbox.concurrency, outbox);
  const send = createSendRow({ db, paragon: deps.paragon, outbox, flow, log, metrics, fetch: deps.fetch, now, random });
  // Each sender works through at most this many claimed rows, one after another...
  const perSender = Math.ceil(outbox.batchSize / outbox.concurrency);
  // ...so a claim lasts while each of them times out.
  const leaseMs = outbox.leaseMs ?? outbox.requestTimeoutMs * (perSender + 1) + 30_000;
  const lifecycle = loopLifecycle(run);
  const { control } = lifecycle;
  const round = () => deliverRound({ db, flow, send, batchSize: outbox.batchSize, perSender, leaseMs, now, stopping: () => control.stopping });
  const prune = prunePeriodically(db, outbox.sentRetentionHours, log, now, () => control.stopping);

  // Typically the database is away: back off (1 s doubling to 30 s) rather than spin and flood the log.
  const failures = failureBackoff({ log, what: 'outbox delivery', baseMs: 1000, maxMs: 30_000, now, random });

  async function run(): Promise<void> {
    while (!control.stopping) {
      let result: RoundResult = { attempted: 0, full: false };
      try {
        await prune();
        const wait = flow.pausedFor(now());
        if (wait > 0) {
          await sleep(wait, control.signal);
          continue;
        }
        result = await round();
        failures.succeeded();
      } catch (err) {
        metrics?.count('outbox.errors');
        await sleep(failures.failed(err), control.signal);
        continue;
      }
      if (!result.full && result.attempted < outbox.batchSize) await sleep(outbox.pollIntervalMs, control.signal);
    }
  }

  return {
    name: 'outbox-delivery',
    runOnce: async () => (await round()).attempted,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}

/** Deletes sent rows past retention, in slices until none is left (or the loop stops), at most every ten minutes. */
function prunePeriodically(db: Kysely<Database>, retentionHours: number, log: Logger, now: () => number, stopping: () => boolean): () => Promise<void> {
  let prunedAt = 0;
  return async () => {
    const at = now();
    if (retentionHours === 0 || at - prunedAt < 600_000) return;
    prunedAt = at;
    const before = new Date(at - retentionHours * 3_600_000);
    const deleted = await inBatches((limit) => deleteSentBefore(db, before, limit), 10_000, stopping);
    if (deleted > 0) log.info({ deleted }, 'old sent app events deleted');
  };
}
