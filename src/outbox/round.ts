/**
 * One delivery round: claim the due rows the flow allows, send them with as many senders as the
 * window allows, follow a contact's backlog when the batch found few contacts, and give back what
 * was not sent.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { DeliveryFlow } from './flow.ts';
import type { DeliveryResult } from './policy.ts';
import type { SendRow } from './send.ts';
import { claimDue, claimNextOfKey, releaseClaims, type OutboxRow } from './store.ts';

export interface RoundDeps {
  db: Kysely<Database>;
  flow: DeliveryFlow;
  send: SendRow;
  batchSize: number;
  /** Rows one sender works through, one after another, in a round. */
  perSender: number;
  /** How long a claim lasts: long enough for each of a sender's rows to time out. */
  leaseMs: number;
  now: () => number;
  stopping: () => boolean;
}

export interface RoundResult {
  /** Rows attempted (0: nothing was due). */
  attempted: number;
  /** The claim took all it asked for: more are probably due, so claim again at once. */
  full: boolean;
}

export async function deliverRound(deps: RoundDeps): Promise<RoundResult> {
  const { db, flow, now } = deps;
  const claimToken = randomUUID();
  const at = now();
  // Only as many rows as the senders the window allows can send within the lease: after throttling
  // narrowed it, a full batch would outlive its claim and another worker would send it again.
  const limit = Math.min(deps.batchSize, flow.window * deps.perSender);
  const rows = await claimDue(db, { now: new Date(at), limit, lockedUntil: new Date(at + deps.leaseMs), claimToken });
  const full = rows.length === limit;
  if (rows.length === 0) return { attempted: 0, full };
  const queue = [...rows];
  const halted = () => flow.pausedFor(now()) > 0 || deps.stopping();
  let delivered = 0;
  let inFlight = 0;
  // A full batch means heads are plentiful and the next claim finds more cheaply than chaining.
  const chain = !full;
  const sender = async () => {
    // A sender beyond the current window retires; at least one always stays, so the batch drains.
    while (queue.length > 0 && inFlight < flow.window) {
      if (halted()) return;
      let row: OutboxRow | undefined = queue.shift()!;
      // When the batch found few heads (a few contacts with long backlogs), a sender follows its
      // contact's backlog once the batch's heads are all taken, up to a batch's worth of rows,
      // each with a fresh lease (no queued row waits behind the chain).
      for (let chained = 0; row; chained++) {
        inFlight++;
        let result: DeliveryResult;
        try {
          result = await deps.send(row, claimToken);
        } finally {
          inFlight--;
        }
        delivered++;
        const go = chain && result.kind === 'sent' && queue.length === 0 && chained < deps.batchSize && !halted();
        const next = now();
        row = go ? await claimNextOfKey(db, row.ordering_key, { now: new Date(next), lockedUntil: new Date(next + deps.leaseMs), claimToken }) : undefined;
      }
    }
  };
  // allSettled: a database error in one sender must not leave the others running unobserved.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(flow.window, rows.length) }, sender));
  await releaseClaims(db, queue.map((row) => row.id), claimToken);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return { attempted: Math.max(rows.length, delivered), full };
}
