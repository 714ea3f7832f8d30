/**
 * What `hubsync status` and the metrics line show of the journal: where each journal's reading
 * stands and the gaps (offsets that expired unread) with the polling re-reads they asked for.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Collector } from '../metrics/loop.ts';
import { listPositions, recentGaps, type Gap, type JournalPosition } from './consumer-store.ts';

export interface JournalStatus {
  journals: (JournalPosition & { lastEventAgeSeconds: number | null })[];
  /** Gaps detected in the last 24 h, and the newest few of any age. */
  gapsLast24h: number;
  gaps: Gap[];
}

const DAY_MS = 86_400_000;

export async function journalStatus(db: Kysely<Database>, now: Date = new Date()): Promise<JournalStatus> {
  const [positions, gaps] = await Promise.all([listPositions(db), recentGaps(db, 50)]);
  return {
    journals: positions.map((p) => ({ ...p, lastEventAgeSeconds: p.lastEventAt === null ? null : Math.max(0, Math.round((now.getTime() - p.lastEventAt) / 1000)) })),
    gapsLast24h: gaps.filter((g) => g.detectedAt.getTime() > now.getTime() - DAY_MS).length,
    gaps: gaps.slice(0, 5),
  };
}

/** `journal.gaps_24h`, and per journal `journal.last_event_age_seconds` (how old the newest event read is). */
export function journalCollector(db: Kysely<Database>): Collector {
  return async (metrics, now) => {
    const status = await journalStatus(db, now);
    metrics.gauge('journal.gaps_24h', status.gapsLast24h);
    for (const j of status.journals) if (j.lastEventAgeSeconds !== null) metrics.gauge('journal.last_event_age_seconds', j.lastEventAgeSeconds, { journal: j.journal });
  };
}
