/**
 * Queries of the journal consumer: where each journal stands (`journal_offsets`), the commit that
 * stores an entry batch's events in the inbox together with the new offset, and the gaps left by
 * offsets that expired unread (`journal_gaps`), with the polling re-reads they ask for.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { JournalOffsetsTable } from '../db/journal-tables.ts';
import { requestRescans } from '../polling/rescan-store.ts';
import { announceStoredEvents, storeWebhookBatch, type StoreResult } from '../webhooks/inbox-store.ts';
import type { ParsedBatch } from '../webhooks/inbox.ts';

/** Where a journal's reading stands: the last entry committed with its events. Times are epoch ms. */
export interface JournalPosition {
  journal: string;
  offset: string;
  publishedAt: number | null;
  lastEventAt: number | null;
  entries: number;
  events: number;
  updatedAt: Date;
}

function toPosition(row: Selectable<JournalOffsetsTable>): JournalPosition {
  return {
    journal: row.journal,
    offset: row.offset,
    publishedAt: row.published_at?.getTime() ?? null,
    lastEventAt: row.last_event_at?.getTime() ?? null,
    entries: Number(row.entries),
    events: Number(row.events),
    updatedAt: row.updated_at,
  };
}

export async function getPosition(db: Kysely<Database>, journal: string): Promise<JournalPosition | undefined> {
  const row = await db.selectFrom('journal_offsets').selectAll().where('journal', '=', journal).executeTakeFirst();
  return row ? toPosition(row) : undefined;
}

export async function listPositions(db: Kysely<Database>): Promise<JournalPosition[]> {
  const rows = await db.selectFrom('journal_offsets').selectAll().orderBy('journal').execute();
  return rows.map(toPosition);
}

export interface EntryCommit {
  journal: string;
  /**
   * The offset the read continued from (null: there was no position). The commit applies only if
   * the journal still stands there.
   */
  from: string | null;
  /** The last entry read: the next read starts after it. */
  offset: string;
  publishedAt: number | null;
  /** Newest `occurredAt` among the events (null: none). */
  lastEventAt: number | null;
  entries: number;
  /** The entries' events, deduplicated and sorted (see `foldDuplicates`). */
  batch: ParsedBatch;
  now: Date;
}

export type CommitResult =
  | { committed: true; stored: StoreResult }
  /** The position had moved since the read began (another consumer committed): nothing was written. */
  | { committed: false };

/**
 * Stores the events of the entries read and moves the offset past them, in ONE transaction: a
 * crash before the commit leaves both as they were (the entries are read again; their events
 * are the same rows), a crash after leaves both done. Never one without the other.
 *
 * The offset moves only from where the read began (`from`). A consumer that lost its lease while
 * it downloaded finds the position moved by the new holder and writes nothing: offsets are
 * opaque, so a blind write would put the journal back to an older entry (or past a gap that was
 * just recorded). What it read is the new holder's to commit, from the same position.
 */
export async function commitEntries(db: Kysely<Database>, c: EntryCommit): Promise<CommitResult> {
  const result = await db.transaction().execute(async (trx): Promise<CommitResult> => {
    const events = c.batch.events.length + c.batch.quarantined.length;
    const values = {
      offset: c.offset,
      published_at: c.publishedAt === null ? null : new Date(c.publishedAt),
      last_event_at: c.lastEventAt === null ? null : new Date(c.lastEventAt),
      updated_at: c.now,
    };
    // The row lock this takes makes a concurrent commit from the same position wait, then find it moved.
    const moved =
      c.from === null
        ? await trx
            .insertInto('journal_offsets')
            .values({ journal: c.journal, ...values, entries: c.entries, events })
            .onConflict((oc) => oc.column('journal').doNothing())
            .returning('journal')
            .executeTakeFirst()
        : await trx
            .updateTable('journal_offsets')
            .set({
              ...values,
              published_at: sql<Date | null>`coalesce(${values.published_at}::timestamptz, published_at)`,
              last_event_at: sql<Date | null>`greatest(last_event_at, ${values.last_event_at}::timestamptz)`,
              entries: sql<number>`entries + ${c.entries}`,
              events: sql<number>`events + ${events}`,
            })
            .where('journal', '=', c.journal)
            .where('offset', '=', c.from)
            .returning('journal')
            .executeTakeFirst();
    if (!moved) return { committed: false };
    return { committed: true, stored: await storeWebhookBatch(trx, c.batch, c.now) };
  });
  if (result.committed && result.stored.inserted > 0) void announceStoredEvents(db);
  return result;
}

export interface Gap {
  journal: string;
  lostOffset: string;
  since: Date;
  until: Date;
  detectedAt: Date;
  /** Polling jobs asked to re-read from `since`. */
  jobs: string[];
}

/**
 * Records a gap (an offset that expired before it was read), asks the polling jobs it concerns to
 * re-read from its start, and forgets the position so reading starts over from the oldest entry
 * kept. One transaction; nothing happens (false) when the journal no longer stands at the lost offset.
 */
export async function recordGap(db: Kysely<Database>, gap: Gap): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // Only if the journal still stands at the lost offset: another consumer may have moved on (or recorded this gap).
    const forgotten = await trx.deleteFrom('journal_offsets').where('journal', '=', gap.journal).where('offset', '=', gap.lostOffset).returning('journal').executeTakeFirst();
    if (!forgotten) return false;
    await trx
      .insertInto('journal_gaps')
      .values({ journal: gap.journal, lost_offset: gap.lostOffset, since: gap.since, until: gap.until, detected_at: gap.detectedAt, rescan_jobs: gap.jobs })
      .execute();
    await requestRescans(trx, gap.jobs, gap.since, `journal ${gap.journal}: offset ${gap.lostOffset} expired unread`, gap.detectedAt);
    return true;
  });
}

/** How many gaps were detected after `since`, for status and the metrics line. */
export async function countGapsSince(db: Kysely<Database>, since: Date): Promise<number> {
  const row = await db.selectFrom('journal_gaps').select((eb) => eb.fn.countAll<string | number>().as('gaps')).where('detected_at', '>', since).executeTakeFirstOrThrow();
  return Number(row.gaps);
}

/** The newest gaps, for status. */
export async function recentGaps(db: Kysely<Database>, limit = 10): Promise<Gap[]> {
  const rows = await db.selectFrom('journal_gaps').selectAll().orderBy('detected_at', 'desc').limit(limit).execute();
  return rows.map((r) => ({ journal: r.journal, lostOffset: r.lost_offset, since: r.since, until: r.until, detectedAt: r.detected_at, jobs: r.rescan_jobs }));
}
