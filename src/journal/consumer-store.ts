/**
 * Queries of the journal consumer: where each journal stands (`journal_offsets`), the commit that
 * stores an entry batch's events in the inbox together with the new offset, and the gaps left by
 * offsets that expired unread (`journal_gaps`), with the polling re-reads they ask for.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { JournalOffsetsTable } from '../db/journal-tables.ts';
import { requestRescans } from '../polling/rescan-store.ts';
import { storeWebhookBatch, type StoreResult } from '../webhooks/inbox-store.ts';
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

/**
 * Stores the events of the entries read and moves the offset past them, in ONE transaction: a
 * crash before the commit leaves both as they were (the entries are read again; their events
 * are the same rows), a crash after leaves both done. Never one without the other.
 */
export async function commitEntries(db: Kysely<Database>, c: EntryCommit): Promise<StoreResult> {
  return db.transaction().execute(async (trx) => {
    const stored = await storeWebhookBatch(trx, c.batch, c.now);
    const events = c.batch.events.length + c.batch.quarantined.length;
    await trx
      .insertInto('journal_offsets')
      .values({
        journal: c.journal,
        offset: c.offset,
        published_at: c.publishedAt === null ? null : new Date(c.publishedAt),
        last_event_at: c.lastEventAt === null ? null : new Date(c.lastEventAt),
        entries: c.entries,
        events,
        updated_at: c.now,
      })
      .onConflict((oc) =>
        oc.column('journal').doUpdateSet((eb) => ({
          offset: eb.ref('excluded.offset'),
          published_at: eb.fn.coalesce('excluded.published_at', 'journal_offsets.published_at'),
          last_event_at: eb.fn('greatest', [eb.ref('journal_offsets.last_event_at'), eb.ref('excluded.last_event_at')]),
          entries: eb('journal_offsets.entries', '+', eb.ref('excluded.entries')),
          events: eb('journal_offsets.events', '+', eb.ref('excluded.events')),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
    return stored;
  });
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
 * kept. One transaction.
 */
export async function recordGap(db: Kysely<Database>, gap: Gap): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('journal_gaps')
      .values({ journal: gap.journal, lost_offset: gap.lostOffset, since: gap.since, until: gap.until, detected_at: gap.detectedAt, rescan_jobs: gap.jobs })
      .execute();
    await requestRescans(trx, gap.jobs, gap.since, `journal ${gap.journal}: offset ${gap.lostOffset} expired unread`, gap.detectedAt);
    await trx.deleteFrom('journal_offsets').where('journal', '=', gap.journal).execute();
  });
}

/** The newest gaps, for status. */
export async function recentGaps(db: Kysely<Database>, limit = 10): Promise<Gap[]> {
  const rows = await db.selectFrom('journal_gaps').selectAll().orderBy('detected_at', 'desc').limit(limit).execute();
  return rows.map((r) => ({ journal: r.journal, lostOffset: r.lost_offset, since: r.since, until: r.until, detectedAt: r.detected_at, jobs: r.rescan_jobs }));
}
