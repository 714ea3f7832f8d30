/**
 * What `hubsync status` and the metrics line show of the journal: where each journal's reading
 * stands and the gaps (offsets that expired unread) with the polling re-reads they asked for.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Database } from '../db/schema.ts';
import { coerceError } from '../errors.ts';
import type { Collector } from '../metrics/loop.ts';
import { latestAppEvents } from '../webhooks/inbox-store.ts';
import { countGapsSince, listPositions, recentGaps, type Gap, type JournalPosition } from './consumer-store.ts';
import { journalApi, journalTokens } from './service.ts';
import { subscriptionStatus, type SubscriptionStatus } from './sync.ts';

export interface JournalStatus {
  journals: (JournalPosition & { lastEventAgeSeconds: number | null })[];
  /** Gaps detected in the last 24 h (all of them counted), and the newest few of any age. */
  gapsLast24h: number;
  gaps: Gap[];
}

export interface JournalReport extends JournalStatus {
  /** The app's installs and uninstalls (only the journal reports them), newest first. */
  appEvents: { action: string; portalId: number | null; occurredAt: Date | null }[];
  /** The subscriptions as HubSpot lists them against the configuration. */
  subscriptions: SubscriptionStatus | { error: string };
}

const DAY_MS = 86_400_000;

export async function journalStatus(db: Kysely<Database>, now: Date = new Date()): Promise<JournalStatus> {
  const [positions, gapsLast24h, gaps] = await Promise.all([listPositions(db), countGapsSince(db, new Date(now.getTime() - DAY_MS)), recentGaps(db, 5)]);
  return {
    journals: positions.map((p) => ({ ...p, lastEventAgeSeconds: p.lastEventAt === null ? null : Math.max(0, Math.round((now.getTime() - p.lastEventAt) / 1000)) })),
    gapsLast24h,
    gaps,
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

/**
 * The journal part of `hubsync status`: positions and gaps from the database, subscriptions from
 * HubSpot (unless `unreachable` says why HubSpot is not to be asked).
 */
export async function journalReport(db: Kysely<Database>, config: Config, log: Logger, now: Date = new Date(), unreachable?: string): Promise<JournalReport | undefined> {
  const journal = config.hubspot.journal;
  if (!journal) return undefined;
  // Status waits at most 5 s for each call to HubSpot, the token request too.
  const quick = { ...journal, requestTimeoutMs: Math.min(journal.requestTimeoutMs, 5_000) };
  const api = journalApi(config, quick, journalTokens(config, quick));
  const [status, appEvents, subscriptions] = await Promise.all([
    journalStatus(db, now),
    latestAppEvents(db, 5),
    unreachable !== undefined
      ? { error: unreachable }
      : subscriptionStatus({ db, api, log, config: { jobs: config.jobs, journal } }).catch((err: unknown) => ({ error: coerceError(err).message })),
  ]);
  return {
    ...status,
    appEvents: appEvents.map((e) => ({ action: e.subscription_type.replace(/^journal\./, ''), portalId: e.portal_id === null ? null : Number(e.portal_id), occurredAt: e.occurred_at })),
    subscriptions,
  };
}
