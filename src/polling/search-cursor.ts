/**
 * Pure planning of the cursored search on (last-modified, id).
 *
 * Every page is a fresh query from the position (keyset paging): no query ever pages by offset, so
 * the 10,000-result cap is never reached and a record that changes mid-run cannot shift the pages
 * under us. A range page asks for `lastmodified >= ts` (or `> ts` once everything at ts is done),
 * sorted ascending; the records at the page's last timestamp are read again by the next query,
 * which costs one or two records a page. When a whole page shares the start timestamp (an import,
 * a bulk edit), the cursor walks that timestamp by id (`= ts AND hs_object_id > lastId`, sorted by
 * id) until it is exhausted, then continues strictly after it. Each step moves the position strictly
 * forward, so the walk can neither loop nor skip.
 */
import type { SearchRequest } from '../hubspot/client.ts';
import { lastModifiedProperty } from '../hubspot/object-types.ts';
import { objectVersion, type HubSpotObject } from '../hubspot/objects.ts';

/**
 * Every record with (last-modified, id) before this position is mirrored. `id: null, complete:
 * false`: nothing at `ts` yet; `id` set: a tie walk at `ts` has done the ids up to it;
 * `complete`: everything at `ts` too.
 */
export interface SearchPosition {
  ts: number;
  id: string | null;
  complete: boolean;
}

export interface PlannedQuery {
  mode: 'range' | 'tie';
  request: SearchRequest;
}

/** The ids a tie walk starts above: HubSpot object ids are positive integers. */
const BEFORE_FIRST_ID = '0';

/** The query that reads the next page from `position`, bounded above by `upperTs` (the run's start). */
export function planQuery(objectType: string, position: SearchPosition, upperTs: number, properties: readonly string[] | undefined, pageSize: number): PlannedQuery {
  const lm = lastModifiedProperty(objectType);
  const props = properties ? { properties: [...new Set([...properties, lm, 'hs_object_id'])] } : {};
  if (position.id !== null && !position.complete) {
    return {
      mode: 'tie',
      request: {
        filterGroups: [{ filters: [
          { propertyName: lm, operator: 'EQ', value: String(position.ts) },
          { propertyName: 'hs_object_id', operator: 'GT', value: position.id },
        ] }],
        sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
        limit: pageSize,
        ...props,
      },
    };
  }
  return {
    mode: 'range',
    request: {
      filterGroups: [{ filters: [
        { propertyName: lm, operator: position.complete ? 'GT' : 'GTE', value: String(position.ts) },
        { propertyName: lm, operator: 'LTE', value: String(upperTs) },
      ] }],
      sorts: [{ propertyName: lm, direction: 'ASCENDING' }],
      limit: pageSize,
      ...props,
    },
  };
}

export interface Advance {
  position: SearchPosition;
  /** No more records up to the run's upper bound. */
  done: boolean;
}

/** Where the walk stands after a page of `results` for `query`. */
export function advance(objectType: string, position: SearchPosition, query: PlannedQuery, results: readonly HubSpotObject[]): Advance {
  const limit = query.request.limit;
  const last = results.at(-1);
  if (query.mode === 'tie') {
    if (!last || results.length < limit) return { position: { ts: position.ts, id: null, complete: true }, done: false };
    return { position: { ts: position.ts, id: String(last.id), complete: false }, done: false };
  }
  if (!last) return { position, done: true };
  const lastTs = maxVersion(objectType, results, position.ts);
  if (results.length < limit) return { position: { ts: lastTs, id: null, complete: true }, done: true };
  // A full page at one timestamp: no range query can get past it; walk it by id.
  if (results.every((r) => objectVersion(objectType, r) === lastTs)) return { position: { ts: lastTs, id: BEFORE_FIRST_ID, complete: false }, done: false };
  return { position: { ts: lastTs, id: null, complete: false }, done: false };
}

function maxVersion(objectType: string, results: readonly HubSpotObject[], floor: number): number {
  let max = floor;
  for (const r of results) {
    const v = objectVersion(objectType, r);
    if (Number.isFinite(v) && v > max) max = v;
  }
  return max;
}

/** Total order of positions: by timestamp, then nothing < an id walk (by numeric id) < complete. */
export function comparePositions(a: SearchPosition, b: SearchPosition): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  const x = rank(a);
  const y = rank(b);
  return x === y ? 0 : x < y ? -1 : 1;
}

function rank(p: SearchPosition): number {
  if (p.complete) return Number.POSITIVE_INFINITY;
  if (p.id === null) return Number.NEGATIVE_INFINITY;
  return Number(p.id);
}

/**
 * Where a run starts: from the stored position, unless the last completed run started less than
 * the look-back ago before it (`rescanFrom` below the position): then from `rescanFrom`, so records
 * the search index had not yet shown are read now.
 */
export function startPosition(stored: SearchPosition | undefined, rescanFrom: number | null): SearchPosition {
  const rescan: SearchPosition | undefined = rescanFrom === null ? undefined : { ts: rescanFrom, id: null, complete: false };
  if (!stored) return rescan ?? { ts: 0, id: null, complete: false };
  if (rescan && comparePositions(rescan, stored) < 0) return rescan;
  return stored;
}
