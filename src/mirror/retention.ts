/**
 * The ledger's retention (`worker` role): every `intervalMs`, changes older than
 * `ledger.retentionHours` leave the change ledger, in batches so no statement holds long locks.
 * Several workers may prune at once; they only find less to delete.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { pruneLedger } from './ledger-store.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import { inBatches, loopLifecycle, sleep, type Service } from '../loop.ts';

export interface LedgerRetentionDeps {
  db: Kysely<Database>;
  log: Logger;
  retentionHours: number;
  /** Between prunes; default 10 minutes. */
  intervalMs?: number;
  /** Rows per delete; default 5,000. */
  batchSize?: number;
  now?: () => number;
}

export function createLedgerRetention(deps: LedgerRetentionDeps): Service & { pruneOnce(): Promise<number> } {
  const log = deps.log.child({ module: 'ledger-retention' });
  const intervalMs = deps.intervalMs ?? 10 * 60_000;
  const batchSize = deps.batchSize ?? 5_000;
  const now = deps.now ?? Date.now;
  const lifecycle = loopLifecycle(run);
  const { control } = lifecycle;

  /** Deletes every row past retention, batch by batch; returns how many. */
  async function pruneOnce(): Promise<number> {
    const before = new Date(now() - deps.retentionHours * 3_600_000);
    const deleted = await inBatches((limit) => pruneLedger(deps.db, before, limit), batchSize, () => control.stopping);
    if (deleted > 0) log.info({ deleted, before }, 'old change ledger rows deleted');
    return deleted;
  }

  async function run(): Promise<void> {
    while (!control.stopping) {
      await pruneOnce().catch((err: unknown) => log.warn({ err: coerceError(err) }, 'change ledger prune failed; retrying later'));
      await sleep(intervalMs, control.signal);
    }
  }

  return {
    name: 'ledger-retention',
    pruneOnce,
    async start() {
      if (deps.retentionHours > 0) await lifecycle.start();
    },
    stop: lifecycle.stop,
  };
}
