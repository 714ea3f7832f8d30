/**
 * The change ledger: for every change (object, property, version) any path delivered, when each
 * path first saw it and which path saw it first. Comparing the paths on the same changes is what
 * tells an operator how well webhooks really do (coverage, lag, misses) against polling.
 *
 * `property` is a HubSpot property name, or a marker for a non-property change (HubSpot names are
 * lowercase letters, digits and underscores, so `@` cannot collide):
 * `@created`, `@deleted`, `@restored`, `@privacyDeleted`, `@gone`, `@merged`,
 * `@association:<type>:<toObjectType>:<toObjectId>`.
 */
import type { ObjectRef, Via } from './observation.ts';

/** One path seeing one change, as the rule reports it. Times are epoch ms. */
export interface LedgerSighting extends ObjectRef {
  property: string;
  /** The change's HubSpot version: becomes `occurred_at`. */
  version: number;
  via: Via;
  seenAt: number;
  /**
   * A read that only confirms a value the mirror already holds at this version: it adds this
   * path's sight to a change already in the ledger, but is no evidence of a change by itself
   * (the stored version may be an undated read's).
   */
  confirmOnly?: boolean;
}

/** One ledger row to merge into storage: the first sight of the change by each path in a batch. */
export interface LedgerChange extends ObjectRef {
  property: string;
  version: number;
  firstSeenVia: Via;
  firstSeenAt: number;
  seenAt: Partial<Record<Via, number>>;
  /** Every sighting was confirm-only: the row is updated if it exists, never created. */
  confirmOnly: boolean;
}

/** Identity of a change, independent of the path that saw it. */
export function ledgerChangeKey(change: ObjectRef & { property: string; version: number }): string {
  return `${change.portalId}\u0000${change.objectType}\u0000${change.objectId}\u0000${change.property}\u0000${change.version}`;
}

/**
 * Folds sightings into one row per change: the earliest sight per path, and the earliest overall
 * (ties broken by path name so the answer does not depend on arrival order). Sorted by key so
 * concurrent writers lock ledger rows in the same order.
 */
export function reduceSightings(sightings: readonly LedgerSighting[]): LedgerChange[] {
  const changes = new Map<string, LedgerChange>();
  for (const s of sightings) {
    const key = ledgerChangeKey(s);
    let change = changes.get(key);
    if (!change) {
      change = {
        portalId: s.portalId,
        objectType: s.objectType,
        objectId: s.objectId,
        property: s.property,
        version: s.version,
        firstSeenVia: s.via,
        firstSeenAt: s.seenAt,
        seenAt: {},
        confirmOnly: true,
      };
      changes.set(key, change);
    }
    if (!s.confirmOnly) change.confirmOnly = false;
    mergeSighting(change, s.via, s.seenAt);
  }
  return [...changes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, change]) => change);
}

/** Records that `via` saw `change` at `seenAt`; keeps only first sights. Mutates `change`. */
export function mergeSighting(change: LedgerChange, via: Via, seenAt: number): void {
  const seen = change.seenAt[via];
  if (seen === undefined || seenAt < seen) change.seenAt[via] = seenAt;
  if (seenAt < change.firstSeenAt || (seenAt === change.firstSeenAt && via < change.firstSeenVia)) {
    change.firstSeenAt = seenAt;
    change.firstSeenVia = via;
  }
}

/** Percentiles of one path's lag (seen − occurred), in ms; null when the path saw nothing. */
export interface LagStats {
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** The three witnesses the report compares. */
export type ReportPath = 'webhook' | 'journal' | 'poll';

export const REPORT_PATHS: readonly ReportPath[] = ['webhook', 'journal', 'poll'];

/**
 * How one path did on a group's changes. "webhook" is the push side as a whole: Webhooks API
 * deliveries, the hydration reads they trigger, workflow posts and Paragon triggers (its earliest
 * sight); "journal" is the Webhooks Journal (events and the reads they trigger); "poll" is
 * cursored polling. Per-path times stay in the ledger's own columns.
 */
export interface PathReport {
  /** Changes this path saw. */
  seen: number;
  /** Changes this path saw no later than every other path did. */
  first: number;
  /** Changes another path saw and this one never did. */
  missed: number;
  /** seen / changes (null when there were no changes). */
  coverage: number | null;
  /** first / changes. */
  firstShare: number | null;
  /** First sight − occurred. */
  lagMs: LagStats;
}

/** The paths compared on the changes of one portal and object type (or of everything, when both are null) over a time range. */
export interface LedgerGroupReport {
  portalId: number | null;
  objectType: string | null;
  /** Changes that occurred in the range, seen by any path. */
  changes: number;
  paths: Record<ReportPath, PathReport>;
  /** Changes only polling saw: what the mirror would lack without it (adaptive polling's evidence). */
  pollOnly: number;
}

export interface LedgerReport {
  since: Date;
  until: Date;
  /** Everything in the range, across the groups. */
  total: LedgerGroupReport;
  /** One entry per (portal, object type) with changes in the range. */
  groups: LedgerGroupReport[];
}

export interface LedgerRange {
  portalId?: number;
  objectType?: string;
  /** Inclusive lower bound on `occurred_at`. */
  since: Date;
  /** Exclusive upper bound on `occurred_at`. */
  until: Date;
  /** Count property changes only, leaving out the @-markers (lifecycle, merges, associations). */
  propertiesOnly?: boolean;
  /** Only these portals and types (e.g. the ones a path is subscribed to). */
  groups?: readonly { portalId: number; objectType: string }[];
}
