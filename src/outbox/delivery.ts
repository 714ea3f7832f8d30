/**
 * The outbox delivery loop (`worker` role): claim due App Events, POST each to Paragon with the
 * user's token, record the outcome. Delivery is at-least-once: a row is marked sent only after
 * Paragon's 201, so a crash in between sends it again once its lease expires.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { OutboxConfig, ParagonConfig } from '../config/schema.ts';
import { claimDue, claimNextOfKey, deleteSentBefore, markFailed, markSent, releaseClaims, type OutboxRow } from './store.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { createAppEventsClient } from '../paragon/app-events.ts';
import type { Fetch } from '../paragon/http.ts';
import { createUserTokenSigner } from '../paragon/token.ts';
import { afterFailure, backoffMs, classifyOutcome, type DeliveryResult } from './policy.ts';
import { inBatches, loopLifecycle, sleep, type Service } from '../loop.ts';

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

/** Creates the delivery loop as a Service. */
export function createOutboxDelivery(deps: DeliveryDeps): OutboxDelivery {
  const { db, outbox, metrics } = deps;
  const log = deps.log.child({ module: 'outbox' });
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const signer = createUserTokenSigner({ projectId: deps.paragon.projectId, signingKey: deps.paragon.signingKey, ttlSeconds: deps.paragon.tokenTtlSeconds });
  const send = createAppEventsClient({
    baseUrl: deps.paragon.baseUrl,
    projectId: deps.paragon.projectId,
    timeoutMs: outbox.requestTimeoutMs,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const policy = { maxAttempts: outbox.maxAttempts, backoffBaseMs: outbox.backoffBaseMs, backoffMaxMs: outbox.backoffMaxMs };
  // Each sender works through at most this many claimed rows, one after another...
  const perSender = Math.ceil(outbox.batchSize / outbox.concurrency);
  // ...so a claim lasts while each of them times out.
  const leaseMs = outbox.leaseMs ?? outbox.requestTimeoutMs * (perSender + 1) + 30_000;

  const lifecycle = loopLifecycle(run);
  const { control } = lifecycle;
  /** The circuit: while Paragon throttles or is unreachable, nothing is claimed. */
  let pausedUntil = 0;
  let transientStreak = 0;
  /**
   * Requests allowed in flight, between 1 and `outbox.concurrency`: halved on every 429, grown by
   * one per full window of successes (AIMD, as TCP does), so a throttled loop settles just under
   * Paragon's rate instead of bursting into it after every pause.
   */
  let window = outbox.concurrency;
  let inFlight = 0;
  /** The last claim took all it asked for: more are probably due, so claim again at once. */
  let claimFull = false;

  function pause(result: Extract<DeliveryResult, { kind: 'transient' }>): void {
    if (result.throttled) window = Math.max(1, window / 2);
    transientStreak++;
    const delay = result.retryAfterMs !== undefined ? Math.min(result.retryAfterMs, outbox.backoffMaxMs) : backoffMs(transientStreak, policy, random());
    const until = now() + delay;
    if (until > pausedUntil) {
      if (pausedUntil <= now()) log.warn({ status: result.status, error: result.error, pauseMs: delay }, result.throttled ? 'paragon throttling: pausing delivery' : 'paragon unavailable: pausing delivery');
      pausedUntil = until;
    }
  }

  async function deliver(row: OutboxRow, claimToken: string): Promise<DeliveryResult> {
    const started = now();
    const token = await signer.token(row.user_id, started);
    const outcome = await send(token, { name: row.name, payload: row.payload });
    const finished = now();
    const result = classifyOutcome(outcome, finished);
    metrics?.observe('outbox.request_ms', finished - started);
    if (result.kind === 'sent') {
      await markSent(db, row.id, new Date(finished), result.status);
      metrics?.count('outbox.delivered');
      metrics?.observe('outbox.delivery_lag_ms', finished - row.created_at.getTime());
      window = Math.min(outbox.concurrency, window + 1 / Math.floor(window));
      if (transientStreak > 0) log.info({ afterFailures: transientStreak }, 'paragon reachable again: delivery resumed');
      transientStreak = 0;
      return result;
    }
    const update = afterFailure(row, result, policy, finished, random());
    const applied = await markFailed(db, row.id, claimToken, update);
    metrics?.count('outbox.failed', 1, { kind: result.kind });
    if (update.status === 'dead' && applied) {
      metrics?.count('outbox.dead');
      log.error({ id: row.id, name: row.name, userId: row.user_id, status: result.status, error: result.error, failures: update.failures }, 'app event dead: redrive with `hubsync outbox retry --dead`');
    } else if (result.kind === 'permanent') {
      log.warn({ id: row.id, name: row.name, status: result.status, error: result.error, failures: update.failures }, 'app event refused by paragon');
    } else {
      log.debug({ id: row.id, status: result.status, error: result.error }, 'app event delivery failed, will retry');
      pause(result);
    }
    return result;
  }

  async function runOnce(): Promise<number> {
    const claimToken = randomUUID();
    const at = now();
    // Only as many rows as the senders the window allows can send within the lease: after throttling
    // narrowed it, a full batch would outlive its claim and another worker would send it again.
    const limit = Math.min(outbox.batchSize, Math.max(1, Math.floor(window)) * perSender);
    const rows = await claimDue(db, { now: new Date(at), limit, lockedUntil: new Date(at + leaseMs), claimToken });
    claimFull = rows.length === limit;
    if (rows.length === 0) return 0;
    const queue = [...rows];
    const halted = () => pausedUntil > now() || control.stopping;
    let delivered = 0;
    // A full batch means heads are plentiful and the next claim finds more cheaply than chaining.
    const chain = rows.length < limit;
    const worker = async () => {
      // A worker beyond the current window retires; at least one always stays, so the batch drains.
      while (queue.length > 0 && inFlight < Math.floor(window)) {
        if (halted()) return;
        let row: OutboxRow | undefined = queue.shift()!;
        // When the batch found few heads (a few contacts with long backlogs), a worker follows its
        // contact's backlog once the batch's heads are all taken, up to a batch's worth of rows,
        // each with a fresh lease (no queued row waits behind the chain).
        for (let chained = 0; row; chained++) {
          inFlight++;
          let result: DeliveryResult;
          try {
            result = await deliver(row, claimToken);
          } finally {
            inFlight--;
          }
          delivered++;
          const go = chain && result.kind === 'sent' && queue.length === 0 && chained < outbox.batchSize && !halted();
          const at = now();
          row = go ? await claimNextOfKey(db, row.ordering_key, { now: new Date(at), lockedUntil: new Date(at + leaseMs), claimToken }) : undefined;
        }
      }
    };
    // allSettled: a database error in one worker must not leave the others running unobserved.
    const settled = await Promise.allSettled(Array.from({ length: Math.min(Math.floor(window), rows.length) }, worker));
    await releaseClaims(db, queue.map((row) => row.id), claimToken);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    return Math.max(rows.length, delivered);
  }

  let prunedAt = 0;
  /** Deletes sent rows past retention, in slices until none is left (or the loop stops), at most every ten minutes. */
  async function prune(): Promise<void> {
    const at = now();
    if (outbox.sentRetentionHours === 0 || at - prunedAt < 600_000) return;
    prunedAt = at;
    const before = new Date(at - outbox.sentRetentionHours * 3_600_000);
    const deleted = await inBatches((limit) => deleteSentBefore(db, before, limit), 10_000, () => control.stopping);
    if (deleted > 0) log.info({ deleted }, 'old sent app events deleted');
  }

  async function run(): Promise<void> {
    let errors = 0;
    while (!control.stopping) {
      let claimed = 0;
      try {
        await prune();
        const wait = pausedUntil - now();
        if (wait > 0) {
          await sleep(wait, control.signal);
          continue;
        }
        claimed = await runOnce();
        errors = 0;
      } catch (err) {
        // Typically the database is away: back off (1 s doubling to 30 s) rather than spin and flood the log.
        errors++;
        if (errors === 1 || errors % 10 === 0) log.error({ err, consecutive: errors }, 'outbox delivery round failed');
        metrics?.count('outbox.errors');
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(errors - 1, 5)), control.signal);
        continue;
      }
      if (!claimFull && claimed < outbox.batchSize) await sleep(outbox.pollIntervalMs, control.signal);
    }
  }

  return {
    name: 'outbox-delivery',
    runOnce,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}
