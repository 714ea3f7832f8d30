/**
 * The table watcher: turns inserts and updates of the app's contacts table (`outbox.source`)
 * into App Events. A head cursor on `(updated_at, id)` reads new versions as they appear; a
 * trailing sweep reads every row once more when it is `lookbackMs` old, to catch rows whose
 * transaction committed after the head had passed their timestamp. Each event's idempotency key
 * is (table, row, version), so the second read of a version enqueues nothing.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { OutboxConfig } from '../config/schema.ts';
import { insertAppEvents, type NewAppEvent } from './store.ts';
import { lockCursor, readSourceRows, registerSourceRows, saveCursor, type SourceRow } from './source-store.ts';
import type { Database } from '../db/schema.ts';
import type { Metrics } from '../metrics/registry.ts';
import { failureBackoff, loopLifecycle, sleep, type Service } from '../loop.ts';

export type SourceConfig = NonNullable<OutboxConfig['source']>;

export interface SourceDeps {
  db: Kysely<Database>;
  outbox: OutboxConfig & { source: SourceConfig };
  log: Logger;
  metrics?: Metrics;
  now?: () => number;
}

export interface ScanResult {
  /** Rows read (both passes). */
  read: number;
  /** Events newly enqueued. */
  enqueued: number;
  /** Rows without a user (no Connected User to send as). */
  skipped: number;
  /** False when another worker held the cursor. */
  ran: boolean;
}

/**
 * The payload of a row: the configured `fields` (payload key -> column), or every column when
 * none are configured. Pure.
 */
export function payloadOf(row: Record<string, unknown>, fields: Readonly<Record<string, string>>): Record<string, unknown> {
  const entries = Object.entries(fields);
  if (entries.length === 0) return { ...row };
  return Object.fromEntries(entries.map(([key, column]) => [key, row[column] ?? null]));
}

/** Events for one page of rows; `fresh` holds the row ids seen for the first time. Pure. */
export function eventsFor(rows: readonly SourceRow[], fresh: ReadonlySet<string>, source: SourceConfig, names: OutboxConfig['events']): NewAppEvent[] {
  return rows
    .filter((r) => r.userId !== null && r.userId !== '')
    .map((r) => ({
      userId: r.userId as string,
      name: fresh.has(r.rowId) ? names.created : names.updated,
      payload: payloadOf(r.row, source.fields),
      idempotencyKey: `${source.table}:${r.rowId}:${r.version}`,
      orderingKey: `${source.table}:${r.rowId}`,
    }));
}

/**
 * One pass of one cursor (head, or the trailing sweep when `settledBeforeMs` is given) over up
 * to `batchSize` rows, in one transaction with the cursor row locked: cursor, seen-rows and
 * events commit together, and two workers never read the same page.
 */
export async function scanOnce(deps: SourceDeps, pass: 'head' | 'trail'): Promise<ScanResult> {
  const { source } = deps.outbox;
  const name = pass === 'head' ? source.table : `${source.table}#trail`;
  const now = new Date((deps.now ?? Date.now)());
  return deps.db.transaction().execute(async (trx) => {
    const cursor = await lockCursor(trx, name);
    if (!cursor) return { read: 0, enqueued: 0, skipped: 0, ran: false };
    const rows = await readSourceRows(trx, source, cursor, source.batchSize, pass === 'trail' ? source.lookbackMs : undefined);
    const last = rows[rows.length - 1];
    if (!last) return { read: 0, enqueued: 0, skipped: 0, ran: true };
    // The trail only re-reads: a row it finds unregistered is one the head missed, so it is new.
    // Rows without a user are not registered: when one gets a user later, that is its "created".
    const fresh = await registerSourceRows(trx, source.table, rows.filter((r) => r.userId).map((r) => r.rowId), now);
    const events = eventsFor(rows, fresh, source, deps.outbox.events);
    const enqueued = await insertAppEvents(trx, events);
    await saveCursor(trx, name, { ts: last.cursorTs, id: last.rowId }, rows.length, now);
    return { read: rows.length, enqueued, skipped: rows.length - events.length, ran: true };
  });
}

/** Creates the watcher loop as a Service: drains the head, then the trail, then sleeps `pollIntervalMs`. */
export function createOutboxSource(deps: SourceDeps): Service & { drain(): Promise<ScanResult> } {
  const { source } = deps.outbox;
  const log = deps.log.child({ module: 'outbox-source', table: source.table });
  const lifecycle = loopLifecycle(run);
  const { control } = lifecycle;

  async function drain(): Promise<ScanResult> {
    const total: ScanResult = { read: 0, enqueued: 0, skipped: 0, ran: true };
    for (const pass of ['head', 'trail'] as const) {
      if (pass === 'trail' && source.lookbackMs === 0) continue;
      for (;;) {
        const r = await scanOnce(deps, pass);
        total.read += r.read;
        total.enqueued += r.enqueued;
        total.skipped += r.skipped;
        total.ran &&= r.ran;
        if (!r.ran || r.read < source.batchSize || control.stopping) break;
      }
    }
    if (total.enqueued) deps.metrics?.count('outbox.source.enqueued', total.enqueued);
    if (total.skipped) {
      deps.metrics?.count('outbox.source.skipped', total.skipped);
      log.warn({ rows: total.skipped, column: source.user }, 'rows without a user were not enqueued');
    }
    return total;
  }

  // After failures (the database or the table away), wait longer each time, up to 30 s.
  const failures = failureBackoff({ log, what: 'outbox source scan', baseMs: source.pollIntervalMs, maxMs: Math.max(30_000, source.pollIntervalMs) });

  async function run(): Promise<void> {
    while (!control.stopping) {
      let wait = source.pollIntervalMs;
      try {
        await drain();
        failures.succeeded();
      } catch (err) {
        deps.metrics?.count('outbox.source.errors');
        wait = failures.failed(err);
      }
      await sleep(wait, control.signal);
    }
  }

  return {
    name: 'outbox-source',
    drain,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}
